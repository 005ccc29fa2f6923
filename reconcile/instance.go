package reconcile

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"

	"github.com/storeops/storeops/render"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Labels and annotations that tie what storeops creates to one instance.
const (
	// LabelInstance carries the instance name on everything an instance
	// creates: namespaces, quotas, limit ranges, policies, credentials
	// and Helm release records. Informers select on it, so an instance
	// never sees (and never changes or deletes) another's stores.
	LabelInstance = "storeops.dev/instance"
	// AnnotationOwner on a store namespace is an HMAC of the instance,
	// the namespace's name and its UID under the instance key: proof that
	// this instance created the namespace. Labels can be copied by anyone
	// who may create namespaces; the proof cannot.
	AnnotationOwner = "storeops.dev/owner"
	// AnnotationIntent on a store namespace that is not sealed yet is
	// this instance's record of creating it: a nonce, the creation time
	// and an HMAC of both with the instance and the namespace's name (see
	// intent.go). It stands in for the proof only until the namespace is
	// sealed, and only while the nonce is also recorded in the instance
	// key Secret, which the applier checks before acting.
	AnnotationIntent = "storeops.dev/intent"
	// DefaultInstance is the instance name when none is given.
	DefaultInstance = "storeops"
	// instanceKeyBytes is the size of a generated instance key.
	instanceKeyBytes = 32
)

var instanceName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$`)

// Instance is the identity of one storeops installation in a cluster.
type Instance struct {
	// Name is the value of LabelInstance.
	Name string
	// Key signs the namespaces this instance creates. It is kept in a
	// Secret of storeops' own namespace (see LoadInstanceKey).
	Key []byte
	// keyNamespace is where that Secret lives; the creation intents of
	// store namespaces are recorded on it. Empty for an Instance not read
	// from the cluster: its applier records no intents.
	keyNamespace string
}

// CheckInstanceName reports whether name may be used as an instance name:
// a DNS label of at most 40 characters.
func CheckInstanceName(name string) error {
	if !instanceName.MatchString(name) {
		return fmt.Errorf("instance name %q: want lower-case letters, digits and '-', at most 40, starting and ending with a letter or digit", name)
	}
	return nil
}

// Seal returns the AnnotationOwner value of a namespace this instance
// created.
func (i Instance) Seal(ns *corev1.Namespace) string {
	m := hmac.New(sha256.New, i.Key)
	fmt.Fprintf(m, "storeops-namespace\x00%s\x00%s\x00%s", i.Name, ns.Name, ns.UID)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Owns reports whether ns carries this instance's label and either a
// valid proof that this instance created it (Sealed) or this instance's
// record of creating it (AnnotationIntent, see Intended): storeops stopped
// between creating the namespace and sealing it. The applier seals such a
// namespace before any other action, and only if the intent is still
// recorded in the instance key Secret; otherwise it refuses it as not
// ours.
func (i Instance) Owns(ns *corev1.Namespace) bool {
	return i.Sealed(ns) || i.Intended(ns)
}

// Sealed reports whether ns carries this instance's label and a valid
// proof that this instance created it.
func (i Instance) Sealed(ns *corev1.Namespace) bool {
	if !i.labelled(ns) {
		return false
	}
	got := ns.Annotations[AnnotationOwner]
	return got != "" && hmac.Equal([]byte(got), []byte(i.Seal(ns)))
}

// labelled reports whether ns is a namespace with this instance's labels
// and a UID, and the instance has a key.
func (i Instance) labelled(ns *corev1.Namespace) bool {
	return ns != nil && ns.UID != "" && len(i.Key) > 0 &&
		ns.Labels[render.LabelManagedBy] == render.ManagedBy && ns.Labels[LabelInstance] == i.Name
}

// instanceKeySecret is the name of the Secret holding an instance's key.
func instanceKeySecret(instance string) string { return "storeops-instance-" + instance }

// LoadInstanceKey reads the instance key from the Secret
// storeops-instance-<name> in namespace, creating it with a random key the
// first time. Every replica and every run of the same instance shares it.
func LoadInstanceKey(ctx context.Context, client kubernetes.Interface, namespace, name string) (Instance, error) {
	if err := CheckInstanceName(name); err != nil {
		return Instance{}, err
	}
	secrets := client.CoreV1().Secrets(namespace)
	secretName := instanceKeySecret(name)
	for range 3 {
		sec, err := secrets.Get(ctx, secretName, metav1.GetOptions{})
		if err == nil {
			key := sec.Data["key"]
			if len(key) < 16 {
				return Instance{}, fmt.Errorf("instance key Secret %s/%s has no usable key", namespace, secretName)
			}
			return Instance{Name: name, Key: key, keyNamespace: namespace}, nil
		}
		if !apierrors.IsNotFound(err) {
			return Instance{}, fmt.Errorf("read instance key Secret %s/%s: %w", namespace, secretName, err)
		}
		key := make([]byte, instanceKeyBytes)
		if _, err := rand.Read(key); err != nil {
			return Instance{}, err
		}
		_, err = secrets.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: secretName, Namespace: namespace, Labels: map[string]string{
				render.LabelManagedBy: render.ManagedBy, LabelInstance: name}},
			Type: corev1.SecretTypeOpaque,
			Data: map[string][]byte{"key": key},
		}, metav1.CreateOptions{})
		if err == nil {
			return Instance{Name: name, Key: key, keyNamespace: namespace}, nil
		}
		if !apierrors.IsAlreadyExists(err) {
			return Instance{}, fmt.Errorf("create instance key Secret %s/%s: %w", namespace, secretName, err)
		}
		// Another replica created it first: read theirs.
	}
	return Instance{}, errors.New("instance key Secret keeps changing")
}

// withInstance labels the desired objects of every store with the
// instance, and sets each store's fingerprint of the result (compared by
// changedStores).
func withInstance(ds []render.Desired, instance string) {
	for i := range ds {
		d := &ds[i]
		for _, labels := range []*map[string]string{&d.Namespace.Labels, &d.Quota.Labels, &d.LimitRange.Labels, &d.NetworkPolicy.Labels} {
			if *labels == nil {
				*labels = map[string]string{}
			}
			(*labels)[LabelInstance] = instance
		}
		d.Fingerprint = render.Fingerprint(d)
	}
}

// ReadInstanceKey is LoadInstanceKey without creating the Secret: a missing
// Secret gives an Instance without a key, which owns nothing (no store of
// the instance can exist without its key).
func ReadInstanceKey(ctx context.Context, client kubernetes.Interface, namespace, name string) (Instance, error) {
	if err := CheckInstanceName(name); err != nil {
		return Instance{}, err
	}
	sec, err := client.CoreV1().Secrets(namespace).Get(ctx, instanceKeySecret(name), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return Instance{Name: name}, nil
	}
	if err != nil {
		return Instance{}, fmt.Errorf("read instance key Secret %s/%s: %w", namespace, instanceKeySecret(name), err)
	}
	return Instance{Name: name, Key: sec.Data["key"], keyNamespace: namespace}, nil
}
