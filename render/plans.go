package render

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Plan is a resource tier: it sets a store's ResourceQuota and LimitRange.
type Plan string

// The plans, smallest first.
const (
	PlanSmall  Plan = "small"
	PlanMedium Plan = "medium"
	PlanLarge  Plan = "large"
)

// Plans lists the known plans, smallest first.
var Plans = []Plan{PlanSmall, PlanMedium, PlanLarge}

// Tier is the figures of one plan.
type Tier struct {
	// Namespace totals (ResourceQuota).
	Pods, PVCs               int64
	RequestsCPU, RequestsMem string
	LimitsCPU, LimitsMem     string
	Storage                  string
	// Per container (LimitRange).
	DefaultRequestCPU, DefaultRequestMem string
	DefaultLimitCPU, DefaultLimitMem     string
	MaxCPU, MaxMem                       string
}

var tiers = map[Plan]Tier{
	PlanSmall: {
		Pods: 20, PVCs: 5,
		RequestsCPU: "2", RequestsMem: "4Gi", LimitsCPU: "4", LimitsMem: "8Gi", Storage: "20Gi",
		DefaultRequestCPU: "100m", DefaultRequestMem: "128Mi",
		DefaultLimitCPU: "500m", DefaultLimitMem: "512Mi",
		MaxCPU: "2", MaxMem: "4Gi",
	},
	PlanMedium: {
		Pods: 40, PVCs: 10,
		RequestsCPU: "4", RequestsMem: "8Gi", LimitsCPU: "8", LimitsMem: "16Gi", Storage: "60Gi",
		DefaultRequestCPU: "100m", DefaultRequestMem: "128Mi",
		DefaultLimitCPU: "1", DefaultLimitMem: "1Gi",
		MaxCPU: "4", MaxMem: "8Gi",
	},
	PlanLarge: {
		Pods: 80, PVCs: 20,
		RequestsCPU: "8", RequestsMem: "16Gi", LimitsCPU: "16", LimitsMem: "32Gi", Storage: "200Gi",
		DefaultRequestCPU: "200m", DefaultRequestMem: "256Mi",
		DefaultLimitCPU: "1", DefaultLimitMem: "2Gi",
		MaxCPU: "8", MaxMem: "16Gi",
	},
}

// TierOf returns the figures of a plan; ok is false for an unknown plan.
func TierOf(p Plan) (t Tier, ok bool) {
	t, ok = tiers[p]
	return t, ok
}

// Names of the isolation objects in every store namespace.
const (
	QuotaName         = "storeops-quota"
	LimitRangeName    = "storeops-limits"
	NetworkPolicyName = "storeops-default-deny"
)

// ResourceQuota is the quota of a plan for a namespace. It panics on an
// unknown plan: validated stores only carry known plans.
func ResourceQuota(namespace string, plan Plan) *corev1.ResourceQuota {
	t := mustTier(plan)
	return &corev1.ResourceQuota{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ResourceQuota"},
		ObjectMeta: metav1.ObjectMeta{Name: QuotaName, Namespace: namespace},
		Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{
			corev1.ResourcePods:                   *resource.NewQuantity(t.Pods, resource.DecimalSI),
			corev1.ResourceRequestsCPU:            resource.MustParse(t.RequestsCPU),
			corev1.ResourceRequestsMemory:         resource.MustParse(t.RequestsMem),
			corev1.ResourceLimitsCPU:              resource.MustParse(t.LimitsCPU),
			corev1.ResourceLimitsMemory:           resource.MustParse(t.LimitsMem),
			corev1.ResourcePersistentVolumeClaims: *resource.NewQuantity(t.PVCs, resource.DecimalSI),
			corev1.ResourceRequestsStorage:        resource.MustParse(t.Storage),
		}},
	}
}

// LimitRange is the per-container defaults and maxima of a plan for a
// namespace. It panics on an unknown plan.
func LimitRange(namespace string, plan Plan) *corev1.LimitRange {
	t := mustTier(plan)
	return &corev1.LimitRange{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "LimitRange"},
		ObjectMeta: metav1.ObjectMeta{Name: LimitRangeName, Namespace: namespace},
		Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
			Type: corev1.LimitTypeContainer,
			DefaultRequest: corev1.ResourceList{
				corev1.ResourceCPU:    resource.MustParse(t.DefaultRequestCPU),
				corev1.ResourceMemory: resource.MustParse(t.DefaultRequestMem),
			},
			Default: corev1.ResourceList{
				corev1.ResourceCPU:    resource.MustParse(t.DefaultLimitCPU),
				corev1.ResourceMemory: resource.MustParse(t.DefaultLimitMem),
			},
			Max: corev1.ResourceList{
				corev1.ResourceCPU:    resource.MustParse(t.MaxCPU),
				corev1.ResourceMemory: resource.MustParse(t.MaxMem),
			},
		}}},
	}
}

func mustTier(p Plan) Tier {
	t, ok := tiers[p]
	if !ok {
		panic("render: unknown plan " + string(p))
	}
	return t
}
