package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// The first replica to judge a revision records its verdict; the others
// take it, whatever their own; the Lease keeps the newest verdicts only.
func TestVerdictsFirstHolds(t *testing.T) {
	client := fake.NewClientset()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a := &verdicts{client: client, namespace: "storeops", name: "storeops-leader-sync", member: "a", log: log}
	b := &verdicts{client: client, namespace: "storeops", name: "storeops-leader-sync", member: "b", log: log}

	if refused, _ := a.judge("r1", ""); refused {
		t.Fatal("a's own verdict on r1 (through) not kept")
	}
	if refused, why := b.judge("r1", "refusing to delete 2 of 3 stores"); refused || why != "" {
		t.Errorf("b on r1: refused %t %q; want a's verdict (through)", refused, why)
	}
	if refused, why := b.judge("r2", "refusing to delete 2 of 3 stores"); !refused || why != "refusing to delete 2 of 3 stores" {
		t.Errorf("b first on r2: refused %t %q", refused, why)
	}
	if refused, why := a.judge("r2", ""); !refused || why != "refusing to delete 2 of 3 stores" {
		t.Errorf("a on r2: refused %t %q; want b's refusal", refused, why)
	}
	for i := range 20 {
		a.judge(fmt.Sprintf("rev-%02d", i), "")
	}
	l, err := client.CoordinationV1().Leases("storeops").Get(t.Context(), "storeops-leader-sync", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	all := map[string]verdict{}
	if err := json.Unmarshal([]byte(l.Annotations[annotationGuardVerdicts]), &all); err != nil || len(all) != maxVerdicts {
		t.Fatalf("%d verdicts kept (%v), want %d", len(all), err, maxVerdicts)
	}
	if _, ok := all["rev-19"]; !ok {
		t.Error("the newest verdict was dropped")
	}
}
