package repl

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/grpcx/grpcx/format"
)

// DefaultHistoryFile is where interactive history is kept across sessions:
// $XDG_STATE_HOME/grpcx/history, or ~/.local/state/grpcx/history.
func DefaultHistoryFile() string {
	dir := os.Getenv("XDG_STATE_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		dir = filepath.Join(home, ".local", "state")
	}
	dir = filepath.Join(dir, "grpcx")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return ""
	}
	return filepath.Join(dir, "history")
}

// remember adds an entry to the session's history and, on a terminal, to
// the history file, with the values of secret headers masked first.
func (s *Session) remember(line string) {
	line = maskSecrets(line)
	s.history = append(s.history, line)
	if s.terminal != nil {
		s.terminal.saveHistory(line)
	}
}

// maskSecrets hides the value in "header NAME VALUE" when NAME holds a
// credential.
func maskSecrets(line string) string {
	fields := strings.Fields(line)
	if len(fields) < 3 || fields[0] != "header" {
		return line
	}
	name := strings.ToLower(strings.TrimSuffix(fields[1], ":"))
	if !format.IsSecret(name) {
		return line
	}
	value := strings.TrimSpace(line[strings.Index(line, fields[1])+len(fields[1]):])
	return "header " + fields[1] + " " + format.Mask(value)
}
