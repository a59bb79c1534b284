package cmd

import (
	"context"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/grpcx/grpcx/descsource"
)

// completionTimeout bounds the reflection a Tab asks of the server: a
// shell must not hang on a server that does not answer.
const completionTimeout = 2 * time.Second

// Shell completion: `grpcx completion bash|zsh|fish|powershell` prints a
// script (cobra's), which runs `grpcx __complete ARGS` on Tab. Verbs then
// complete flags as cobra does, and services and methods by asking the
// target's reflection (or reading --proto/--protoset), with the
// connection flags already typed.

// completeNames returns a ValidArgsFunction offering the names want picks
// from the descriptor source of conn: once the arguments hold a target (or
// conn has files), and while want accepts another argument.
func completeNames(conn *connOptions, want func(rest []string) (services, methods bool)) cobra.CompletionFunc {
	return func(c *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		target, rest := splitTarget(args)
		if target == "" && !conn.hasFiles() {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		services, methods := want(rest)
		if !services && !methods {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		conn.Target = target
		if conn.check() != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		ctx, cancel := context.WithTimeout(c.Context(), completionTimeout)
		defer cancel()
		var names []string
		_ = conn.withSource(ctx, io.Discard, func(src descsource.Source) error {
			names = sourceNames(src, services, methods, strings.Contains(toComplete, "/"))
			return nil
		})
		var out []string
		for _, n := range names {
			if strings.HasPrefix(n, toComplete) {
				out = append(out, n)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// sourceNames lists src's services and their methods; methods are
// pkg.Service.Method, or pkg.Service/Method when slash is set (what the
// user started typing).
func sourceNames(src descsource.Source, services, methods, slash bool) []string {
	svcs, err := descsource.Services(src)
	if err != nil {
		return nil
	}
	var out []string
	for _, svc := range svcs {
		if services {
			out = append(out, string(svc.FullName()))
		}
		for i := 0; methods && i < svc.Methods().Len(); i++ {
			m := svc.Methods().Get(i)
			if slash {
				out = append(out, string(svc.FullName())+"/"+string(m.Name()))
			} else {
				out = append(out, string(m.FullName()))
			}
		}
	}
	return out
}
