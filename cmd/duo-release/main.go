// Command duo-release builds a signed release bundle of the plugin for
// every platform plugin.json lists (package internal/release):
//
//	go run ./cmd/duo-release keygen -out ~/keys/duo-release     # once: the key pair
//	go run ./cmd/duo-release -version 0.2.0 -key ~/keys/duo-release -out dist/
//
// The second writes dist/duo-security-0.2.0/ (plugin.json, plugin.json.sig,
// bin/<os>-<arch>/duo-plugin[.exe]) and dist/duo-security-0.2.0.tar.gz. Run
// it from the module's root (or any directory below it).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/helpdesk-duo/duo-plugin/host"
	"github.com/helpdesk-duo/duo-plugin/internal/release"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "duo-release:", err)
		}
		os.Exit(2)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "keygen" {
		return keygen(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("duo-release", flag.ContinueOnError)
	fs.SetOutput(stderr)
	version := fs.String("version", "", "the release's version, like 0.2.0 (default: plugin.json's)")
	keyFile := fs.String("key", "", "the private key file keygen wrote (required; keep it out of the repository)")
	out := fs.String("out", "dist", "the directory to write the bundle and its .tar.gz to")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: duo-release -version 0.2.0 -key FILE [-out dist]\n       duo-release keygen -out FILE")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *keyFile == "" || fs.NArg() > 0 {
		fs.Usage()
		return errors.New("-key is required, and no arguments")
	}
	key, err := release.ReadPrivateKey(*keyFile)
	if err != nil {
		return err
	}
	root, err := release.RepoRoot()
	if err != nil {
		return err
	}
	start := time.Now()
	res, err := release.Build(ctx, release.Config{
		Root: root, Version: *version, Out: *out, Key: key,
		Progress: func(p string) { fmt.Fprintf(stderr, "building %s (%s)\n", p, time.Since(start).Round(time.Second)) },
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s %s signed by key %s in %s\n  %s\n  %s\n", res.ID, res.Version, res.KeyID,
		time.Since(start).Round(time.Second), res.Dir, res.Archive)
	return nil
}

func keygen(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("duo-release keygen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "the private key file to create (mode 0600); the public key goes to FILE.pub")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || fs.NArg() > 0 {
		fs.Usage()
		return errors.New("keygen: -out is required, and no arguments")
	}
	if abs, err := filepath.Abs(*out); err == nil {
		if root, err := release.RepoRoot(); err == nil && strings.HasPrefix(abs, root+string(filepath.Separator)) {
			return fmt.Errorf("keygen: %s is inside the repository (%s): keep the signing key elsewhere", *out, root)
		}
	}
	pub, err := release.GenerateKey(*out, *out+".pub")
	if err != nil {
		return fmt.Errorf("keygen: %w", err)
	}
	fmt.Fprintf(stdout, "private key: %s (keep it secret, out of the repository)\npublic key:  %s.pub, id %s; hosts pin this line:\n%s\n",
		*out, *out, host.KeyID(pub), host.FormatPublicKey(pub))
	return nil
}
