package reconcile

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// Creation intents: how a store namespace that a run of storeops created
// but did not live to seal is still known as this instance's, and only it.
//
// The proof of creation (AnnotationOwner) is an HMAC over the namespace's
// UID, which exists only once the namespace does: sealing takes a second
// request. A run killed between the two would leave a namespace with
// storeops' labels and no proof, which must not be told from one that
// someone else created with copied labels (the squat storeops refuses).
// So, before creating a store namespace, the applier
//
//  1. records a random nonce for the store on the instance key Secret
//     (annotation intent.storeops.dev/<store>), which only storeops and
//     the cluster's administrators may write;
//  2. creates the namespace with AnnotationIntent: the nonce, the time and
//     an HMAC of both, the instance and the namespace's name under the
//     instance key;
//  3. seals it (AnnotationOwner, dropping AnnotationIntent) and clears the
//     record.
//
// A later run (after kill -9, or another replica taking over) that finds
// the namespace unsealed seals it, before any other action, only if its
// AnnotationIntent is valid (the HMAC, which only the key's holders can
// make), names a time within intentSkew of the namespace's creation, and
// its nonce is still recorded on the Secret; it then clears the record. A
// namespace someone else created has no valid intent; one with an intent
// copied from a namespace of storeops needs that namespace deleted first,
// within minutes of its creation (the time bound) and before storeops
// sealed it (the record is cleared then).

// intentKeyPrefix prefixes the annotations of the instance key Secret that
// record creation intents, one per store.
const intentKeyPrefix = "intent.storeops.dev/"

// intentSkew bounds the distance between the time an intent names and the
// namespace's creation time (set by the API server): the namespace is
// created right after the intent; the rest is allowed clock skew.
const intentSkew = 5 * time.Minute

// refusedIntents remembers the namespaces (UID/nonce) whose intent was
// found not recorded, so that they are refused without asking again.
var refusedIntents sync.Map

// intentMAC is the HMAC of a namespace's creation intent.
func (i Instance) intentMAC(namespace, nonce string, unix int64) string {
	m := hmac.New(sha256.New, i.Key)
	fmt.Fprintf(m, "storeops-namespace-intent\x00%s\x00%s\x00%s\x00%d", i.Name, namespace, nonce, unix)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// intent returns the AnnotationIntent value of a namespace this instance is
// about to create.
func (i Instance) intent(namespace, nonce string, at time.Time) string {
	return fmt.Sprintf("%s.%d.%s", nonce, at.Unix(), i.intentMAC(namespace, nonce, at.Unix()))
}

// intentNonce returns the nonce of ns's AnnotationIntent if the annotation
// is this instance's (valid HMAC) and names a time within intentSkew of
// the namespace's creation; "" otherwise.
func (i Instance) intentNonce(ns *corev1.Namespace) string {
	if !i.labelled(ns) {
		return ""
	}
	parts := strings.Split(ns.Annotations[AnnotationIntent], ".")
	if len(parts) != 3 || parts[0] == "" {
		return ""
	}
	unix, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || !hmac.Equal([]byte(parts[2]), []byte(i.intentMAC(ns.Name, parts[0], unix))) {
		return ""
	}
	if d := ns.CreationTimestamp.Sub(time.Unix(unix, 0)); d > intentSkew || d < -intentSkew {
		return ""
	}
	return parts[0]
}

// Intended reports whether ns is not sealed but carries this instance's
// creation intent (see AnnotationIntent). The recorded half of the intent,
// on the instance key Secret, is checked by the applier before it seals.
func (i Instance) Intended(ns *corev1.Namespace) bool {
	return i.intentNonce(ns) != ""
}

// newNonce returns 16 random bytes, base64url.
func newNonce() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// keyClient reaches the instance key Secret: KeyClient, else the
// applier's own client.
func (c *ClusterApplier) keyClient() kubernetes.Interface {
	if c.KeyClient != nil {
		return c.KeyClient
	}
	return c.client
}

// recordsIntents reports whether this applier knows where the instance key
// Secret is, and so can record intents.
func (c *ClusterApplier) recordsIntents() bool {
	return c.Instance.keyNamespace != "" && len(c.Instance.Key) > 0
}

// readIntents returns the nonces recorded for store on the instance key
// Secret (read from the API server, not a cache).
func (c *ClusterApplier) readIntents(ctx context.Context, store string) ([]string, error) {
	sec, err := c.keyClient().CoreV1().Secrets(c.Instance.keyNamespace).Get(ctx, instanceKeySecret(c.Instance.Name), metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("read the creation intents of %s: %w", store, err)
	}
	return strings.Fields(sec.Annotations[intentKeyPrefix+store]), nil
}

// recordIntent adds nonce to the intents recorded for store, keeping the
// newest one before it (whose namespace a lagging cache may not show yet),
// and returns the recorded value.
func (c *ClusterApplier) recordIntent(ctx context.Context, store, nonce string) (string, error) {
	prior, err := c.readIntents(ctx, store)
	if err != nil {
		return "", err
	}
	if len(prior) > 1 {
		prior = prior[len(prior)-1:]
	}
	value := strings.Join(append(prior, nonce), " ")
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{intentKeyPrefix + store: value}}})
	if err != nil {
		return "", err
	}
	_, err = c.keyClient().CoreV1().Secrets(c.Instance.keyNamespace).Patch(ctx, instanceKeySecret(c.Instance.Name), types.MergePatchType, patch, metav1.PatchOptions{})
	if err != nil {
		return "", fmt.Errorf("record the creation intent of %s: %w", store, err)
	}
	return value, nil
}

// clearIntent removes the intents of store from the instance key Secret if
// they are still value. Failing changes nothing that matters: a recorded
// intent is of use only with a namespace created within intentSkew of it,
// and a later namespace of the store records its own.
func (c *ClusterApplier) clearIntent(ctx context.Context, store, value string) {
	path := "/metadata/annotations/" + strings.ReplaceAll(intentKeyPrefix+store, "/", "~1")
	patch, err := json.Marshal([]map[string]string{{"op": "test", "path": path, "value": value}, {"op": "remove", "path": path}})
	if err != nil {
		return
	}
	_, err = c.keyClient().CoreV1().Secrets(c.Instance.keyNamespace).Patch(ctx, instanceKeySecret(c.Instance.Name), types.JSONPatchType, patch, metav1.PatchOptions{})
	if err != nil && !apierrors.IsInvalid(err) {
		c.log.Warn("cannot clear a creation intent", "store", store, "error", err)
	}
}

// sealIntended seals ns, a namespace of store that carries this instance's
// creation intent but no proof, if its nonce is among recorded (read from
// the instance key Secret when nil), and clears the record. A namespace
// whose intent is not recorded is refused as not ours, unless it has been
// sealed meanwhile (ns is an older copy).
func (c *ClusterApplier) sealIntended(ctx context.Context, store string, ns *corev1.Namespace, recorded []string) (*corev1.Namespace, error) {
	nonce := c.Instance.intentNonce(ns)
	refused := string(ns.UID) + "/" + nonce
	if _, ok := refusedIntents.Load(refused); ok || nonce == "" || !c.recordsIntents() {
		return nil, fmt.Errorf("namespace %s %w", ns.Name, ErrNotManaged)
	}
	if recorded == nil {
		var err error
		if recorded, err = c.readIntents(ctx, store); err != nil {
			return nil, err
		}
	}
	if !slices.ContainsFunc(recorded, func(r string) bool { return hmac.Equal([]byte(r), []byte(nonce)) }) {
		live, err := c.client.CoreV1().Namespaces().Get(ctx, ns.Name, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("namespace %s: %w", ns.Name, err)
		}
		if live.UID == ns.UID && c.Instance.Sealed(live) {
			return live, nil // sealed by an earlier action of this run
		}
		// A nonce is recorded before its namespace exists and never
		// again: not recorded now, it never will be.
		refusedIntents.Store(refused, true)
		return nil, fmt.Errorf("namespace %s carries a creation intent this instance has not recorded: it %w", ns.Name, ErrNotManaged)
	}
	sealed, err := c.seal(ctx, ns)
	if apierrors.IsConflict(err) {
		// A cached copy older than the namespace (readiness marks, status
		// labels): seal the live one if it is still the same namespace.
		live, getErr := c.client.CoreV1().Namespaces().Get(ctx, ns.Name, metav1.GetOptions{})
		switch {
		case getErr != nil:
			return nil, fmt.Errorf("namespace %s: %w", ns.Name, getErr)
		case live.UID != ns.UID || live.DeletionTimestamp != nil:
			return nil, fmt.Errorf("seal namespace %s: replaced or being deleted meanwhile", ns.Name)
		case c.Instance.Sealed(live):
			sealed, err = live, nil
		case c.Instance.intentNonce(live) == nonce:
			sealed, err = c.seal(ctx, live)
		}
	}
	if err != nil {
		return nil, err
	}
	c.log.Info("sealed a store namespace whose creation a previous run recorded but did not seal", "store", store, "namespace", ns.Name)
	c.clearIntent(ctx, store, strings.Join(recorded, " "))
	return sealed, nil
}

// seal writes this instance's proof of creation on ns, a namespace it
// created (its intent dropped), guarded by ns's resourceVersion: a
// namespace replaced meanwhile is not sealed.
func (c *ClusterApplier) seal(ctx context.Context, ns *corev1.Namespace) (*corev1.Namespace, error) {
	live := ns.DeepCopy()
	if live.Annotations == nil {
		live.Annotations = map[string]string{}
	}
	live.Annotations[AnnotationOwner] = c.Instance.Seal(live)
	delete(live.Annotations, AnnotationIntent)
	sealed, err := c.client.CoreV1().Namespaces().Update(ctx, live, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("seal namespace %s: %w", ns.Name, err)
	}
	return sealed, nil
}
