package reconcile

import (
	"fmt"
	"testing"
	"time"

	"github.com/storeops/storeops/render"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// A creation intent stands for this instance's proof only on a namespace
// of the name it was made for, created within intentSkew of it, by the
// instance that made it; and never when the proof is what is asked.
func TestIntended(t *testing.T) {
	a := Instance{Name: "a", Key: []byte("0123456789abcdef0123456789abcdef")}
	b := Instance{Name: "b", Key: []byte("fedcba9876543210fedcba9876543210")}
	at := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	nsAt := func(name, instance, intent string, created time.Time) *corev1.Namespace {
		return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, UID: "u1", CreationTimestamp: metav1.NewTime(created),
			Labels:      map[string]string{render.LabelManagedBy: render.ManagedBy, LabelInstance: instance},
			Annotations: map[string]string{AnnotationIntent: intent}}}
	}
	good := a.intent("store-x", "nonce1", at)
	for _, tc := range []struct {
		what string
		ns   *corev1.Namespace
		want bool
	}{
		{"its own, created at once", nsAt("store-x", "a", good, at.Add(time.Second)), true},
		{"created within the skew before", nsAt("store-x", "a", good, at.Add(-intentSkew+time.Second)), true},
		{"created long after", nsAt("store-x", "a", good, at.Add(intentSkew+time.Second)), false},
		{"created long before", nsAt("store-x", "a", good, at.Add(-intentSkew-time.Second)), false},
		{"copied to another name", nsAt("store-y", "a", good, at), false},
		{"another instance's label", nsAt("store-x", "b", good, at), false},
		{"a forged MAC", nsAt("store-x", "a", fmt.Sprintf("nonce1.%d.forged", at.Unix()), at), false},
		{"another time under the MAC", nsAt("store-x", "a", fmt.Sprintf("nonce1.%d.%s", at.Unix()+1, a.intentMAC("store-x", "nonce1", at.Unix())), at), false},
		{"no nonce", nsAt("store-x", "a", "."+good, at), false},
		{"empty", nsAt("store-x", "a", "", at), false},
	} {
		if got := a.Intended(tc.ns); got != tc.want {
			t.Errorf("%s: Intended = %v, want %v", tc.what, got, tc.want)
		}
		if a.Sealed(tc.ns) {
			t.Errorf("%s: an intent counts as the proof", tc.what)
		}
		if got := a.Owns(tc.ns); got != tc.want {
			t.Errorf("%s: Owns = %v, want %v", tc.what, got, tc.want)
		}
	}
	if b.Intended(nsAt("store-x", "b", good, at)) {
		t.Error("another instance's key accepts the intent")
	}
}
