package main

import (
	"flag"
	"fmt"
	"strings"

	"github.com/storeops/storeops/reconcile"
)

// storeRoleFlags name the role storeops binds to itself in each store
// namespace it creates (see reconcile.StoreRole). storeops' chart sets
// both; without them storeops binds nothing, and its own RBAC must cover
// store namespaces (tests without the chart, an admin's kubeconfig).
type storeRoleFlags struct {
	clusterRole string
	subject     string // namespace/name of storeops' ServiceAccount
}

func (f *storeRoleFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.clusterRole, "store-role", "", "ClusterRole bound (by a RoleBinding) to storeops' ServiceAccount in each store namespace it creates (default: none)")
	fs.StringVar(&f.subject, "store-role-subject", "", "storeops' ServiceAccount as namespace/name, the subject of --store-role's RoleBindings")
}

// role returns the StoreRole the flags describe, or nil.
func (f *storeRoleFlags) role() (*reconcile.StoreRole, error) {
	if f.clusterRole == "" && f.subject == "" {
		return nil, nil
	}
	ns, name, ok := strings.Cut(f.subject, "/")
	if f.clusterRole == "" || !ok || ns == "" || name == "" || strings.Contains(name, "/") {
		return nil, fmt.Errorf("-store-role and -store-role-subject (namespace/name of storeops' ServiceAccount) go together; got %q and %q", f.clusterRole, f.subject)
	}
	return &reconcile.StoreRole{ClusterRole: f.clusterRole, Namespace: ns, ServiceAccount: name}, nil
}
