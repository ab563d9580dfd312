package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	jsonpatch "github.com/evanphx/json-patch/v5"
	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// admissionOptions sizes the injector comparison.
type admissionOptions struct {
	vaultkube  string // bin/vaultkube
	vaultK8s   string // the vault-k8s wrapper binary; empty: skipK8s says why
	skipK8s    string
	sequential int // sequential requests per server
	concurrent int // requests per server sent by `workers` concurrent clients
	workers    int
	rounds     int    // the sequential requests are sent in this many alternating rounds
	concRounds int    // and the concurrent ones in this many
	runs       int    // whole runs with fresh servers; the summary takes their median (memory: max)
	client     string // "lean" (leanClient) or "net/http"
	dir        string
}

// server is one injector process under test.
type server struct {
	name    string
	cmd     *exec.Cmd
	url     string
	client  *http.Client
	log     string
	lean    *leanClient // the lean client (-client lean), which sends leanReq; nil: client
	leanReq []byte
}

const reviewUID = "5c1d3f7e-0b7a-4f7e-9a51-2b3c4d5e6f70"

// benchPod is the pod a webhook really receives for `kubectl apply` of an annotated
// Deployment's pod: the ServiceAccount admission plugin already added the kube-api-access
// projected volume and its mounts, defaults are set, the name is still empty (generateName).
func benchPod() *corev1.Pod {
	tokenExp := int64(3607)
	grace := int64(30)
	apiAccess := "kube-api-access-7x2kq"
	return &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: "web-6d8f7c9b5d-",
			Namespace:    "app",
			Labels:       map[string]string{"app": "web", "pod-template-hash": "6d8f7c9b5d"},
			Annotations: map[string]string{
				"vault.hashicorp.com/agent-inject":             "true",
				"vault.hashicorp.com/role":                     "web",
				"vault.hashicorp.com/agent-inject-secret-db":   "secret/data/web/db",
				"vault.hashicorp.com/agent-inject-template-db": "{{- with secret \"secret/data/web/db\" -}}\npostgres://{{ .Data.data.username }}:{{ .Data.data.password }}@db.app.svc:5432/web\n{{- end }}\n",
			},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-6d8f7c9b5d",
				UID: "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
			}},
		},
		Spec: corev1.PodSpec{
			Volumes: []corev1.Volume{{
				Name: apiAccess,
				VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
					DefaultMode: ptr.To(int32(0o644)),
					Sources: []corev1.VolumeProjection{
						{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{ExpirationSeconds: &tokenExp, Path: "token"}},
						{ConfigMap: &corev1.ConfigMapProjection{
							LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"},
							Items:                []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}},
						}},
						{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{
							Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"},
						}}}},
					},
				}},
			}},
			Containers: []corev1.Container{{
				Name:    "web",
				Image:   "registry.example.com/web:1.4.2",
				Command: []string{"/web"},
				Args:    []string{"--listen", ":8080"},
				Ports:   []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}},
				Env:     []corev1.EnvVar{{Name: "DB_URL_FILE", Value: "/vault/secrets/db"}},
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
					Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")},
				},
				VolumeMounts: []corev1.VolumeMount{{
					Name: apiAccess, ReadOnly: true, MountPath: "/var/run/secrets/kubernetes.io/serviceaccount",
				}},
				ReadinessProbe: &corev1.Probe{
					ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http"), Scheme: corev1.URISchemeHTTP}},
					PeriodSeconds: 10, TimeoutSeconds: 1, SuccessThreshold: 1, FailureThreshold: 3,
				},
				TerminationMessagePath:   corev1.TerminationMessagePathDefault,
				TerminationMessagePolicy: corev1.TerminationMessageReadFile,
				ImagePullPolicy:          corev1.PullIfNotPresent,
			}},
			RestartPolicy:                 corev1.RestartPolicyAlways,
			TerminationGracePeriodSeconds: &grace,
			DNSPolicy:                     corev1.DNSClusterFirst,
			ServiceAccountName:            "web",
			DeprecatedServiceAccount:      "web",
			SecurityContext:               &corev1.PodSecurityContext{},
			SchedulerName:                 corev1.DefaultSchedulerName,
			Tolerations: []corev1.Toleration{
				{Key: "node.kubernetes.io/not-ready", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To(int64(300))},
				{Key: "node.kubernetes.io/unreachable", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To(int64(300))},
			},
			Priority:           ptr.To(int32(0)),
			EnableServiceLinks: ptr.To(true),
			PreemptionPolicy:   ptr.To(corev1.PreemptLowerPriority),
		},
	}
}

// reviewBody is the AdmissionReview v1 for benchPod, as kube-apiserver sends it.
func reviewBody() ([]byte, error) {
	raw, err := json.Marshal(benchPod())
	if err != nil {
		return nil, err
	}
	podGVK := metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}
	podGVR := metav1.GroupVersionResource{Version: "v1", Resource: "pods"}
	opts, err := json.Marshal(map[string]any{"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1", "fieldManager": "kube-controller-manager"})
	if err != nil {
		return nil, err
	}
	review := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:             reviewUID,
			Kind:            podGVK,
			Resource:        podGVR,
			RequestKind:     &podGVK,
			RequestResource: &podGVR,
			Namespace:       "app",
			Operation:       admissionv1.Create,
			UserInfo: authenticationv1.UserInfo{
				Username: "system:serviceaccount:kube-system:replicaset-controller",
				UID:      "7a6b5c4d-3e2f-1a0b-9c8d-7e6f5a4b3c2d",
				Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"},
			},
			Object:  runtime.RawExtension{Raw: raw},
			DryRun:  ptr.To(false),
			Options: runtime.RawExtension{Raw: opts},
		},
	}
	return json.Marshal(review)
}

// checkReview verifies one webhook answer: the same UID, allowed, a JSON patch that applies
// to the pod and adds at least one container and one volume. It describes the patch.
func checkReview(resp []byte) (string, error) {
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(resp, &review); err != nil {
		return "", fmt.Errorf("decode AdmissionReview: %w", err)
	}
	r := review.Response
	switch {
	case r == nil:
		return "", errors.New("no response in the AdmissionReview")
	case string(r.UID) != reviewUID:
		return "", fmt.Errorf("response UID %q, want %q", r.UID, reviewUID)
	case !r.Allowed:
		msg := ""
		if r.Result != nil {
			msg = r.Result.Message
		}
		return "", fmt.Errorf("allowed: false: %s", msg)
	case len(r.Patch) == 0:
		return "", errors.New("allowed without a patch")
	case r.PatchType == nil || *r.PatchType != admissionv1.PatchTypeJSONPatch:
		return "", errors.New("patchType is not JSONPatch")
	}
	before := benchPod()
	raw, err := json.Marshal(before)
	if err != nil {
		return "", err
	}
	p, err := jsonpatch.DecodePatch(r.Patch)
	if err != nil {
		return "", fmt.Errorf("decode patch: %w", err)
	}
	patched, err := p.Apply(raw)
	if err != nil {
		return "", fmt.Errorf("apply patch: %w", err)
	}
	var after corev1.Pod
	if err := json.Unmarshal(patched, &after); err != nil {
		return "", fmt.Errorf("decode patched pod: %w", err)
	}
	added := len(after.Spec.Containers) + len(after.Spec.InitContainers) - len(before.Spec.Containers) - len(before.Spec.InitContainers)
	if added < 1 || len(after.Spec.Volumes) <= len(before.Spec.Volumes) {
		return "", fmt.Errorf("patch adds %d containers and %d volumes", added, len(after.Spec.Volumes)-len(before.Spec.Volumes))
	}
	return fmt.Sprintf("allowed: true, %d patch operations (%d bytes), +%d containers, +%d volumes, %d warnings",
		len(p), len(r.Patch), added, len(after.Spec.Volumes)-len(before.Spec.Volumes), len(r.Warnings)), nil
}

// writeCert writes a self-signed ECDSA certificate for 127.0.0.1 and returns the file
// paths and a pool that trusts it.
func writeCert(dir string) (certFile, keyFile string, pool *x509.CertPool, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return "", "", nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return "", "", nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return "", "", nil, err
	}
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return "", "", nil, err
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return "", "", nil, err
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startServer starts an injector on 127.0.0.1 and waits until readyPath answers 200.
func startServer(name, dir string, pool *x509.CertPool, workers, port int, readyPath string, env []string, argv ...string) (*server, error) {
	logPath := filepath.Join(dir, name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append([]string{"HOME=" + dir, "PATH=/usr/bin:/bin"}, env...)
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	logf.Close()
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	s := &server{
		name: name, cmd: cmd, log: logPath,
		url: fmt.Sprintf("https://127.0.0.1:%d", port),
		client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			TLSClientConfig:     &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
			MaxIdleConnsPerHost: workers,
			MaxConnsPerHost:     workers,
		}},
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-exited:
			out, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("%s exited before it was ready: %s", name, tail(out, 600))
		default:
		}
		if resp, err := s.client.Get(s.url + readyPath); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		if time.Now().After(deadline) {
			s.stop()
			out, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("%s not ready after 30s: %s", name, tail(out, 600))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *server) stop() {
	if s == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Kill()
}

// post sends one AdmissionReview and returns the answer and the time to its last byte.
func (s *server) post(body []byte) ([]byte, time.Duration, error) {
	return s.send(body, false)
}

// send is post; with keep the lean client returns the answer's body too (net/http's always).
// The lean client sends the request it was made with (leanReq), which holds body.
func (s *server) send(body []byte, keep bool) ([]byte, time.Duration, error) {
	if s.lean != nil {
		out, d, err := s.lean.do(s.leanReq, keep)
		if err != nil {
			err = fmt.Errorf("%s: %w", s.name, err)
		}
		return out, d, err
	}
	start := time.Now()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, s.url+"/mutate?timeout=10s", bytes.NewReader(body))
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, */*")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, 0, err
	}
	out, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	d := time.Since(start)
	if err != nil {
		return nil, 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("%s: HTTP %d: %s", s.name, resp.StatusCode, tail(out, 300))
	}
	return out, d, nil
}

// sequential sends n requests one after the other and records their latencies.
func (s *server) sequential(body []byte, n int, lat *[]time.Duration) error {
	for range n {
		_, d, err := s.post(body)
		if err != nil {
			return err
		}
		*lat = append(*lat, d)
	}
	return nil
}

// concurrent sends n requests from workers clients at once and records their latencies.
func (s *server) concurrent(body []byte, n, workers int, lat *[]time.Duration) error {
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		errs []error
	)
	per := n / workers
	for range workers {
		wg.Go(func() {
			local := make([]time.Duration, 0, per)
			var err error
			for range per {
				var d time.Duration
				if _, d, err = s.post(body); err != nil {
					break
				}
				local = append(local, d)
			}
			mu.Lock()
			*lat = append(*lat, local...)
			if err != nil {
				errs = append(errs, err)
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// admissionResult holds one server's figures.
type admissionResult struct {
	seq, conc   []time.Duration
	idleRSS     int64   // kB after start and warm-up
	after       memInfo // after the run
	cpu         time.Duration
	requests    int
	binarySize  int64
	logBytes    int64 // written to stdout+stderr during the timed requests
	description string
}

// runAdmission compares our injector with vault-k8s's handler on the same AdmissionReview,
// o.runs times with fresh servers, and sums the runs up as the other sections do: the
// median for latencies and CPU, the largest for memory. One run's p99 moves with what else
// this shared machine does; the per-run ratios of the goal rows are printed beside it.
func runAdmission(o admissionOptions, out io.Writer) *section {
	if o.skipK8s != "" {
		fmt.Fprintf(out, "SKIPPED: vault-k8s v1.6.2: %s\n", o.skipK8s)
	}
	runs := make([]*section, 0, max(1, o.runs))
	for i := range max(1, o.runs) {
		fmt.Fprintf(out, "-- run %d of %d --\n", i+1, max(1, o.runs))
		s := admissionRun(o, out, i == 0)
		if s.err != nil {
			return s
		}
		runs = append(runs, s)
	}
	s := combineRuns(runs)
	if len(runs) > 1 {
		printRunRatios(out, runs, s)
	}
	return s
}

// combineRuns sums up runs of one section whose rows come in the same order: the median
// of each figure (nearest rank), or the largest for a row marked worst (memory).
func combineRuns(runs []*section) *section {
	s := &section{name: runs[0].name}
	for j, r := range runs[0].rows {
		ours, peer := make([]float64, 0, len(runs)), make([]float64, 0, len(runs))
		for _, run := range runs {
			ours, peer = append(ours, run.rows[j].ours), append(peer, run.rows[j].peer)
		}
		if r.worst {
			r.ours, r.peer = slices.Max(ours), slices.Max(peer)
		} else {
			r.ours, r.peer = medianOf(ours), medianOf(peer)
		}
		s.add(r)
	}
	return s
}

// printRunRatios prints, for each row with a goal, its ratio in every run and in the sum.
func printRunRatios(out io.Writer, runs []*section, sum *section) {
	tw := newTable(out)
	fmt.Fprintf(tw, "goal rows, ours/peer\tper run\tof the %d-run figures\n", len(runs))
	for j, r := range sum.rows {
		if r.goal == 0 || r.skip != "" {
			continue
		}
		per := make([]string, 0, len(runs))
		for _, run := range runs {
			per = append(per, fmt.Sprintf("%.2f", run.rows[j].ratio()))
		}
		fmt.Fprintf(tw, "%s\t%s\t%.3f\n", r.metric, strings.Join(per, " "), r.ratio())
	}
	_ = tw.Flush()
}

// admissionRun is one run of the comparison: it starts the servers, measures and stops them.
// The first run also prints what each server answered.
func admissionRun(o admissionOptions, out io.Writer, first bool) *section {
	s := &section{name: "injector"}
	body, err := reviewBody()
	if err != nil {
		s.err = err
		return s
	}
	certFile, keyFile, pool, err := writeCert(o.dir)
	if err != nil {
		s.err = err
		return s
	}

	ports := [3]int{}
	for i := range ports {
		if ports[i], err = freePort(); err != nil {
			s.err = err
			return s
		}
	}
	ours, err := startServer("vaultkube-injector", o.dir, pool, o.workers, ports[0], "/readyz", nil,
		o.vaultkube, "injector", "--listen", fmt.Sprintf("127.0.0.1:%d", ports[0]),
		"--tls-cert-file", certFile, "--tls-key-file", keyFile,
		"--vault-address", "http://127.0.0.1:8200", "--kubernetes-version", "v1.37.2")
	if err != nil {
		s.err = err
		return s
	}
	defer ours.stop()
	servers := []*server{ours}
	if o.skipK8s == "" {
		// Ours runs Go code on one CPU by default (--max-procs 1); vault-k8s as shipped uses
		// them all. The same vault-k8s at GOMAXPROCS=1 gives the like-for-like rows.
		for _, peer := range []struct {
			name string
			port int
			env  []string
		}{{"vault-k8s-injector", ports[1], nil}, {"vault-k8s (1 P)", ports[2], []string{"GOMAXPROCS=1"}}} {
			srv, err := startServer(peer.name, o.dir, pool, o.workers, peer.port, "/health/ready", peer.env,
				o.vaultK8s, "-listen", fmt.Sprintf("127.0.0.1:%d", peer.port),
				"-tls-cert-file", certFile, "-tls-key-file", keyFile, "-vault-address", "http://127.0.0.1:8200")
			if err != nil {
				s.err = fmt.Errorf("%s: %w", peer.name, err)
				return s
			}
			defer srv.stop()
			servers = append(servers, srv)
		}
	}

	if first {
		fmt.Fprintf(out, "AdmissionReview: %d bytes, pod with a kube-api-access projected volume and 4 vault.hashicorp.com annotations (one template)\n", len(body))
	}
	res := make([]*admissionResult, len(servers))
	const warmup = 20
	for i, srv := range servers {
		r := &admissionResult{}
		res[i] = r
		if fi, err := os.Stat(srv.cmd.Path); err == nil {
			r.binarySize = fi.Size()
		}
		if o.client == "lean" {
			addr := strings.TrimPrefix(srv.url, "https://")
			srv.lean, srv.leanReq = newLeanClient(addr, pool, o.workers), leanRequest(addr, body)
			defer srv.lean.close()
		}
		resp, _, err := srv.send(body, true)
		if err != nil {
			s.err = err
			return s
		}
		if r.description, err = checkReview(resp); err != nil {
			s.err = fmt.Errorf("%s answered: %w", srv.name, err)
			return s
		}
		if first {
			fmt.Fprintf(out, "  %-20s %s\n", srv.name+":", r.description)
		}
		var discard []time.Duration
		if err := srv.sequential(body, warmup, &discard); err != nil {
			s.err = err
			return s
		}
		r.idleRSS, _ = procMemory(srv.cmd.Process.Pid)
		r.cpu = -procCPU(srv.cmd.Process.Pid)
		r.logBytes = -fileSize(srv.log)
	}

	// Alternate the servers round by round (and which goes first) so that both see the
	// same background load of this shared machine.
	perRound := o.sequential / o.rounds
	for round := range o.rounds {
		for j := range servers {
			i := j
			if round%2 == 1 {
				i = len(servers) - 1 - j
			}
			if err := servers[i].sequential(body, perRound, &res[i].seq); err != nil {
				s.err = err
				return s
			}
		}
	}
	for round := range o.concRounds {
		for j := range servers {
			i := j
			if round%2 == 1 {
				i = len(servers) - 1 - j
			}
			if err := servers[i].concurrent(body, o.concurrent/o.concRounds, o.workers, &res[i].conc); err != nil {
				s.err = err
				return s
			}
		}
	}
	for i, srv := range servers {
		r := res[i]
		r.cpu += procCPU(srv.cmd.Process.Pid)
		r.logBytes += fileSize(srv.log)
		r.after = procMem(srv.cmd.Process.Pid)
		r.requests = len(r.seq) + len(r.conc)
	}

	tw := newTable(out)
	fmt.Fprintf(tw, "server\tsequential p50\tp99\tmax\tconcurrent (%d clients) p50\tp99\tCPU/request\tlog/request\tRSS idle\tVmHWM after\tRssAnon+RssFile after\tbinary\n", o.workers)
	for i, srv := range servers {
		r := res[i]
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d B\t%.1f MB\t%.1f MB\t%.1f+%.1f MB\t%.1f MB\n", srv.name,
			ms(percentile(r.seq, 50)), ms(percentile(r.seq, 99)), ms(percentile(r.seq, 100)),
			ms(percentile(r.conc, 50)), ms(percentile(r.conc, 99)),
			ms(r.cpu/time.Duration(r.requests)), r.logBytes/int64(r.requests), float64(r.idleRSS)/1024, float64(r.after.hwm)/1024,
			float64(r.after.anon)/1024, float64(r.after.file)/1024, float64(r.binarySize)/(1<<20))
	}
	_ = tw.Flush()
	fmt.Fprintf(out, "  %d sequential requests per server in %d alternating rounds, then %d from %d concurrent clients in %d; same body, HTTPS keep-alive, 127.0.0.1, %s client\n",
		len(res[0].seq), o.rounds, len(res[0].conc), o.workers, o.concRounds, o.client)

	// Without the peer, our figures still go into the summary, marked SKIPPED.
	a, b, b1 := res[0], &admissionResult{}, &admissionResult{}
	skip := ""
	if len(servers) > 2 {
		b, b1 = res[1], res[2]
	} else {
		skip = "vault-k8s v1.6.2: " + o.skipK8s
	}
	add := func(metric string, ours, peer float64, unit string, goal float64) {
		// memory and size: the largest of the runs counts
		s.add(row{metric: metric, ours: ours, peer: peer, unit: unit, goal: goal, skip: skip, worst: unit == "MB"})
	}
	perRequest := func(r *admissionResult) float64 {
		if r.requests == 0 {
			return 0
		}
		return msf(r.cpu / time.Duration(r.requests))
	}
	add("admission p50 (sequential)", msf(percentile(a.seq, 50)), msf(percentile(b.seq, 50)), "ms", 0)
	add("admission p99 (sequential)", msf(percentile(a.seq, 99)), msf(percentile(b.seq, 99)), "ms", 1)
	add("admission p50 (concurrent)", msf(percentile(a.conc, 50)), msf(percentile(b.conc, 50)), "ms", 0)
	add("admission p99 (concurrent)", msf(percentile(a.conc, 99)), msf(percentile(b.conc, 99)), "ms", 1)
	add("injector CPU per request", perRequest(a), perRequest(b), "ms", 0)
	add("admission p99 (sequential), both at 1 P", msf(percentile(a.seq, 99)), msf(percentile(b1.seq, 99)), "ms", 0)
	add("admission p99 (concurrent), both at 1 P", msf(percentile(a.conc, 99)), msf(percentile(b1.conc, 99)), "ms", 0)
	add("injector CPU per request, both at 1 P", perRequest(a), perRequest(b1), "ms", 0)
	add("injector RSS (VmHWM after run)", float64(a.after.hwm)/1024, float64(b.after.hwm)/1024, "MB", 0.5)
	add("injector RssAnon after run (heap, stacks)", float64(a.after.anon)/1024, float64(b.after.anon)/1024, "MB", 0)
	add("injector RssFile after run (binary pages)", float64(a.after.file)/1024, float64(b.after.file)/1024, "MB", 0)
	add("injector binary size", float64(a.binarySize)/(1<<20), float64(b.binarySize)/(1<<20), "MB", 0)
	return s
}

// percentile returns the p-th percentile (nearest rank) of ds; p=100 is the maximum.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := int(float64(len(s))*p/100+0.999999) - 1
	return s[max(0, min(rank, len(s)-1))]
}

func median(ds []time.Duration) time.Duration { return percentile(ds, 50) }

// medianOf is the nearest-rank median of xs (the lower middle of an even count).
func medianOf(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[(len(s)-1)/2]
}

func msf(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

func ms(d time.Duration) string { return formatValue(msf(d), "ms") }

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

func tail(b []byte, n int) string {
	b = bytes.TrimSpace(b)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
