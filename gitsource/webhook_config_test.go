package gitsource_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/storeops/storeops/gitsource"
)

func TestWebhookSecrets(t *testing.T) {
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	gh, gl, shared := file("github", "gh-secret\n"), file("gitlab", "gl-secret"), file("shared", "shared-secret\n")
	empty := file("empty", "\n")
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	type secrets = map[gitsource.Provider]string
	tests := []struct {
		name    string
		cfg     gitsource.WebhookConfig
		env     func(string) string
		want    secrets
		warn    []string // substrings, one per warning
		wantErr string
	}{
		{name: "nothing configured: no receiver", want: secrets{}},
		{name: "one secret per provider, from files and the environment",
			cfg:  gitsource.WebhookConfig{Files: map[gitsource.Provider]string{gitsource.GitHub: gh, gitsource.GitLab: gl}},
			env:  env("STOREOPS_WEBHOOK_SECRET_GITEA", "gt-secret"),
			want: secrets{"github": "gh-secret", "gitlab": "gl-secret", "gitea": "gt-secret"}},
		{name: "--webhooks limits the receivers",
			cfg:  gitsource.WebhookConfig{Files: map[gitsource.Provider]string{gitsource.GitHub: gh, gitsource.GitLab: gl}, Enabled: "github"},
			want: secrets{"github": "gh-secret"}, warn: []string{"gitlab has a secret but is not listed"}},
		{name: "a listed receiver needs a secret",
			cfg:     gitsource.WebhookConfig{Files: map[gitsource.Provider]string{gitsource.GitHub: gh}, Enabled: "github,gitea"},
			wantErr: "--webhooks enables gitea, which has no secret"},
		{name: "deprecated shared secret, for the listed receivers only",
			cfg:  gitsource.WebhookConfig{SharedFile: shared, Enabled: "generic, gitea", Files: map[gitsource.Provider]string{gitsource.Gitea: gh}},
			want: secrets{"generic": "shared-secret", "gitea": "gh-secret"}, warn: []string{"generic uses the deprecated shared secret"}},
		{name: "deprecated shared secret from the environment",
			cfg: gitsource.WebhookConfig{Enabled: "gitlab,github"}, env: env("STOREOPS_WEBHOOK_SECRET", "s"),
			want: secrets{"gitlab": "s", "github": "s"},
			warn: []string{"gitlab uses the deprecated", "github uses the deprecated", "gitlab and github share a secret"}},
		{name: "the shared secret alone no longer enables all four",
			cfg: gitsource.WebhookConfig{SharedFile: shared}, wantErr: "enables only the receivers named with --webhooks"},
		{name: "file and environment", cfg: gitsource.WebhookConfig{Files: map[gitsource.Provider]string{gitsource.GitHub: gh}},
			env: env("STOREOPS_WEBHOOK_SECRET_GITHUB", "x"), wantErr: "given both in a file and in $STOREOPS_WEBHOOK_SECRET_GITHUB"},
		{name: "empty file", cfg: gitsource.WebhookConfig{Files: map[gitsource.Provider]string{gitsource.Gitea: empty}}, wantErr: "is empty"},
		{name: "unknown provider", cfg: gitsource.WebhookConfig{Files: map[gitsource.Provider]string{"bitbucket": gh}}, wantErr: "unknown webhook provider"},
		{name: "unknown provider in --webhooks", cfg: gitsource.WebhookConfig{Files: map[gitsource.Provider]string{gitsource.GitHub: gh}, Enabled: "github,svn"}, wantErr: "unknown webhook provider"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.env == nil {
				tt.env = env()
			}
			got, warnings, err := gitsource.WebhookSecrets(tt.cfg, tt.env)
			if tt.wantErr != "" {
				if !errors.Is(err, gitsource.ErrConfig) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want ErrConfig with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			gotS := secrets{}
			for p, s := range got {
				gotS[p] = string(s)
			}
			if diff := cmp.Diff(tt.want, gotS); diff != "" {
				t.Errorf("secrets (-want +got):\n%s", diff)
			}
			if len(warnings) != len(tt.warn) {
				t.Fatalf("warnings %q, want %d", warnings, len(tt.warn))
			}
			for i, w := range tt.warn {
				if !strings.Contains(warnings[i], w) {
					t.Errorf("warning %q, want %q", warnings[i], w)
				}
			}
		})
	}
	if got := gitsource.EnvWebhookSecretFor(gitsource.Generic); got != "STOREOPS_WEBHOOK_SECRET_GENERIC" {
		t.Errorf("EnvWebhookSecretFor(generic) = %s", got)
	}
}
