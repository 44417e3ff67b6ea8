package controllers

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/codequest-dev/codequest/api/v1alpha1"
)

// ManagerConfig is what the controller manager is started with.
type ManagerConfig struct {
	// Namespaces are the judge namespaces watched (empty: all).
	Namespaces []string
	// MetricsAddr and ProbeAddr are the metrics and health listen
	// addresses ("0" turns one off).
	MetricsAddr, ProbeAddr string
	// LeaderElection makes one of several replicas active, holding a Lease
	// named LeaderElectionID in LeaderElectionNamespace.
	LeaderElection          bool
	LeaderElectionNamespace string
	LeaderElectionID        string
	// SkipNameValidation allows several managers in one process (tests).
	SkipNameValidation bool
}

// ManagerOptions are the controller manager's options: the cache holds
// only the watched namespaces and, of pods, only judge pods.
func ManagerOptions(scheme *runtime.Scheme, c ManagerConfig) ctrl.Options {
	nsCfg := map[string]cache.Config{}
	for _, ns := range c.Namespaces {
		nsCfg[ns] = cache.Config{}
	}
	if c.LeaderElectionID == "" {
		c.LeaderElectionID = "controller.codequest.dev"
	}
	return ctrl.Options{
		Scheme:                        scheme,
		Metrics:                       metricsserver.Options{BindAddress: c.MetricsAddr},
		HealthProbeBindAddress:        c.ProbeAddr,
		LeaderElection:                c.LeaderElection,
		LeaderElectionID:              c.LeaderElectionID,
		LeaderElectionNamespace:       c.LeaderElectionNamespace,
		LeaderElectionReleaseOnCancel: true,
		LeaseDuration:                 ptr.To(15 * time.Second),
		Cache: cache.Options{
			DefaultNamespaces: nsCfg,
			ByObject: map[client.Object]cache.ByObject{
				&corev1.Pod{}: {Label: labels.SelectorFromSet(labels.Set{v1alpha1.ComponentLabel: "judge"})},
			},
		},
		Controller: config.Controller{SkipNameValidation: ptr.To(c.SkipNameValidation)},
	}
}
