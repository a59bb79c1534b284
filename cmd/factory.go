package cmd

import (
	"io"
	"os"
)

// IOStreams are the standard streams a command reads and writes.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
	// InIsTerminal reports whether In is an interactive terminal, in which
	// case call does not read requests from it unless told to with -d @-.
	InIsTerminal bool
}

// Factory carries what every command needs from its environment, so tests
// can run commands against buffers.
type Factory struct {
	IO *IOStreams

	stopInterrupt func() // undoes the Ctrl-C handling of the running verb
	interruptNow  func() // installs it at once, when it waits (see oneShotGrace)
}

// NewFactory returns a factory over the given streams.
func NewFactory(stdin io.Reader, stdout, stderr io.Writer) *Factory {
	return &Factory{IO: &IOStreams{In: stdin, Out: stdout, ErrOut: stderr, InIsTerminal: isTerminal(stdin)}}
}

func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}
