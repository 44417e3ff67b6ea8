package controllers

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
)

// PodLogs reads pod logs through the API server (the kubelet serves them).
type PodLogs struct {
	Clientset kubernetes.Interface
}

// TailLog returns the last lines of a container's log.
func (l PodLogs) TailLog(ctx context.Context, namespace, pod, container string, lines int64) (string, error) {
	limit := int64(64 << 10)
	b, err := l.Clientset.CoreV1().Pods(namespace).GetLogs(pod, &corev1.PodLogOptions{
		Container: container, TailLines: &lines, LimitBytes: &limit,
	}).DoRaw(ctx)
	return string(b), err
}
