// Package reporoot finds the root of the storeops repository, where the
// tests and development tools keep their build cache (.cache).
package reporoot

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
)

// Module is the module whose go.mod marks the repository root.
const Module = "github.com/storeops/storeops"

// Find walks up from the working directory to the go.mod of Module and
// returns its directory. A go.mod of another module on the way (a
// nested module or a vendored copy) is passed over.
func Find() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && moduleLine(data) == Module {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod of module " + Module + " above the working directory")
		}
		dir = parent
	}
}

// moduleLine returns the module path that gomod declares.
func moduleLine(gomod []byte) string {
	for _, line := range strings.Split(string(gomod), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "module" {
			return strings.Trim(f[1], `"`)
		}
	}
	return ""
}
