package gitsource

import (
	"bytes"
	"fmt"
	"os"
	"strings"
)

// EnvWebhookSecret holds the deprecated shared webhook secret; see
// WebhookConfig.SharedFile.
const EnvWebhookSecret = "STOREOPS_WEBHOOK_SECRET"

// EnvWebhookSecretFor is the environment variable holding the webhook
// secret of p when no file is given: STOREOPS_WEBHOOK_SECRET_GITHUB,
// _GITLAB, _GITEA or _GENERIC.
func EnvWebhookSecretFor(p Provider) string {
	return EnvWebhookSecret + "_" + strings.ToUpper(string(p))
}

// WebhookConfig is how the webhook receivers are configured on the
// command line.
type WebhookConfig struct {
	// Files maps a provider to the file holding its own secret
	// (--webhook-secret-<provider>-file); without a file the secret is
	// read from EnvWebhookSecretFor(provider). A receiver is enabled
	// when its provider has a secret.
	Files map[Provider]string
	// SharedFile is the deprecated --webhook-secret-file, one secret for
	// every receiver named in Enabled that has no secret of its own (or
	// $STOREOPS_WEBHOOK_SECRET). Sharing is unsafe: GitLab sends its
	// secret in clear in every delivery, and that secret would sign the
	// deliveries of the others.
	SharedFile string
	// Enabled is --webhooks, a comma-separated list of providers. When
	// empty, every provider with a secret of its own is enabled; when
	// given, only the listed ones, each of which needs a secret (its own,
	// or the shared one).
	Enabled string
}

// WebhookSecrets returns the secret of every enabled receiver, and
// warnings to log (the deprecated shared secret, a secret given for a
// receiver left out of Enabled). Secrets come from files (trailing white
// space trimmed) or from the environment, looked up with getenv
// (os.Getenv when nil), never from both. Errors wrap ErrConfig.
func WebhookSecrets(c WebhookConfig, getenv func(string) string) (map[Provider][]byte, []string, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	own := map[Provider][]byte{}
	for _, p := range Providers {
		s, err := secret("webhook secret of "+string(p), c.Files[p], EnvWebhookSecretFor(p), getenv)
		if err != nil {
			return nil, nil, err
		}
		if s != "" {
			own[p] = []byte(s)
		}
	}
	for p := range c.Files {
		if _, err := ParseProvider(string(p)); err != nil {
			return nil, nil, err
		}
	}
	shared, err := secret("shared webhook secret", c.SharedFile, EnvWebhookSecret, getenv)
	if err != nil {
		return nil, nil, err
	}
	var warnings []string
	out := map[Provider][]byte{}
	if strings.TrimSpace(c.Enabled) == "" {
		if shared != "" {
			return nil, nil, fmt.Errorf("%w: the shared webhook secret (--webhook-secret-file or $%s) is deprecated and enables only the receivers named with --webhooks; "+
				"give each provider its own secret with --webhook-secret-<provider>-file instead", ErrConfig, EnvWebhookSecret)
		}
		out = own
	} else {
		listed := map[Provider]bool{}
		for _, name := range strings.Split(c.Enabled, ",") {
			p, err := ParseProvider(strings.TrimSpace(name))
			if err != nil {
				return nil, nil, fmt.Errorf("--webhooks: %w", err)
			}
			listed[p] = true
			switch {
			case own[p] != nil:
				out[p] = own[p]
			case shared != "":
				out[p] = []byte(shared)
				warnings = append(warnings, fmt.Sprintf("webhook %s uses the deprecated shared secret (--webhook-secret-file or $%s); give it its own with --webhook-secret-%s-file", p, EnvWebhookSecret, p))
			default:
				return nil, nil, fmt.Errorf("%w: --webhooks enables %s, which has no secret: give --webhook-secret-%s-file or $%s", ErrConfig, p, p, EnvWebhookSecretFor(p))
			}
		}
		for _, p := range Providers {
			if own[p] != nil && !listed[p] {
				warnings = append(warnings, fmt.Sprintf("webhook %s has a secret but is not listed in --webhooks: its receiver stays disabled", p))
			}
		}
	}
	if g := out[GitLab]; g != nil {
		for _, p := range Providers {
			if p != GitLab && out[p] != nil && bytes.Equal(out[p], g) {
				warnings = append(warnings, fmt.Sprintf("webhooks gitlab and %s share a secret: GitLab sends its secret in clear with every delivery, so whoever sees one can sign %s deliveries", p, p))
			}
		}
	}
	return out, warnings, nil
}
