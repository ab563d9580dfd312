// Package kubeval implements the Kubernetes value rules the admission webhook
// needs (resource quantities, DNS-1123 names, environment variable names and
// generic versions) using only the standard library, so the webhook binary does
// not have to link k8s.io/apimachinery.
//
// Every function follows the behaviour of its apimachinery counterpart:
// a value accepted here is accepted by the API server and vice versa, and
// quantities compare the way the API server compares them. The tests check this
// against apimachinery itself, table-driven and with fuzzing.
package kubeval
