// Command gen-monitoring regenerates the rule files and dashboards from the monitoring mixin
// (see package monitoringgen). Run it from the repository root with `make generate`.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sensorprobe/sensorprobe/internal/monitoringgen"
)

func main() {
	root := flag.String("root", ".", "repository root")
	flag.Parse()
	if err := run(*root); err != nil {
		fmt.Fprintln(os.Stderr, "gen-monitoring:", err)
		os.Exit(1)
	}
}

func run(root string) error {
	files, err := monitoringgen.Generate(os.DirFS(root))
	if err != nil {
		return err
	}
	// WriteFile keeps an existing file's mode; new ones are private until added to git,
	// which records no mode but the executable bit.
	for _, p := range monitoringgen.Paths(files) {
		dst := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
			return err
		}
		if err := os.WriteFile(dst, files[p], 0o600); err != nil {
			return err
		}
		fmt.Println("wrote", p)
	}
	return nil
}
