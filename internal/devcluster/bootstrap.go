package devcluster

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// StorageClassName is kwok's StorageClass, made the default so that
// PersistentVolumeClaims without a class are provisioned and bound.
const StorageClassName = "kwok-volume"

// bootstrap creates the fake nodes and the default StorageClass, then
// waits until the nodes are Ready (kwok runs) and the default namespace has
// its ServiceAccount (the controller manager runs). It returns the server's
// version.
func bootstrap(ctx context.Context, client kubernetes.Interface, procs []*process, nodes []string) (string, error) {
	info, err := client.Discovery().ServerVersion()
	if err != nil {
		return "", fmt.Errorf("server version: %w", err)
	}
	for _, name := range nodes {
		if err := ensure(ctx, func() error {
			_, err := client.CoreV1().Nodes().Create(ctx, fakeNode(name), metav1.CreateOptions{})
			return err
		}); err != nil {
			return "", fmt.Errorf("create node %s: %w", name, err)
		}
	}
	if err := ensure(ctx, func() error {
		_, err := client.StorageV1().StorageClasses().Create(ctx, storageClass(), metav1.CreateOptions{})
		return err
	}); err != nil {
		return "", fmt.Errorf("create storage class: %w", err)
	}
	for _, name := range nodes {
		if err := poll(ctx, procs, "node "+name+" Ready", func() (bool, error) {
			n, err := client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			for _, c := range n.Status.Conditions {
				if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
					return true, nil
				}
			}
			return false, nil
		}); err != nil {
			return "", err
		}
	}
	if err := poll(ctx, procs, "default ServiceAccount", func() (bool, error) {
		_, err := client.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err == nil, err
	}); err != nil {
		return "", err
	}
	return info.GitVersion, nil
}

// ensure runs create, treating AlreadyExists (a kept state) as success.
func ensure(ctx context.Context, create func() error) error {
	err := create()
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// poll calls cond every 200ms until it is true, a process exits, or ctx
// ends; errors from cond are remembered for the timeout message.
func poll(ctx context.Context, procs []*process, what string, cond func() (bool, error)) error {
	var last error
	for {
		for _, p := range procs {
			if err := p.exited(); err != nil {
				return err
			}
		}
		ok, err := cond()
		if ok {
			return nil
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w (last error: %v)", what, ctx.Err(), last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func fakeNode(name string) *corev1.Node {
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("64"),
		corev1.ResourceMemory: resource.MustParse("256Gi"),
		corev1.ResourcePods:   resource.MustParse("1000"),
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: name,
			Annotations: map[string]string{
				"node.alpha.kubernetes.io/ttl": "0",
				"kwok.x-k8s.io/node":           "fake",
			},
			Labels: map[string]string{
				"kubernetes.io/hostname":        name,
				"kubernetes.io/os":              "linux",
				"kubernetes.io/arch":            "amd64",
				"kubernetes.io/role":            "agent",
				"node-role.kubernetes.io/agent": "",
				"type":                          "kwok",
			},
		},
		Status: corev1.NodeStatus{Capacity: capacity, Allocatable: capacity},
	}
}

func storageClass() *storagev1.StorageClass {
	reclaim := corev1.PersistentVolumeReclaimDelete
	binding := storagev1.VolumeBindingImmediate
	return &storagev1.StorageClass{
		ObjectMeta: metav1.ObjectMeta{
			Name:        StorageClassName,
			Annotations: map[string]string{"storageclass.kubernetes.io/is-default-class": "true"},
		},
		Provisioner:       "kwok.x-k8s.io/volume",
		ReclaimPolicy:     &reclaim,
		VolumeBindingMode: &binding,
	}
}
