package forge

import (
	"fmt"
	"os"
	"strings"
)

// EnvToken is the environment variable TokenFromEnvAndFile reads.
const EnvToken = "STOREOPS_FORGE_TOKEN"

// TokenFromEnvAndFile returns the forge token from file (as given with
// --forge-token-file) or from $STOREOPS_FORGE_TOKEN, looked up with
// getenv (os.Getenv when nil); "" when neither is set. Trailing white
// space is trimmed from the file, as Kubernetes secrets often end in a
// newline. Giving both is an ErrConfig.
func TokenFromEnvAndFile(file string, getenv func(string) string) (string, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	fromEnv := getenv(EnvToken)
	if file == "" {
		return fromEnv, nil
	}
	if fromEnv != "" {
		return "", fmt.Errorf("%w: token given both in a file and in $%s", ErrConfig, EnvToken)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("%w: read token file: %w", ErrConfig, err)
	}
	tok := strings.TrimRight(string(b), " \t\r\n")
	if tok == "" {
		return "", fmt.Errorf("%w: token file %s is empty", ErrConfig, file)
	}
	return tok, nil
}
