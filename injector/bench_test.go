package injector

import "testing"

func BenchmarkMutate(b *testing.B) {
	pod := loadPod(b, "web", basic(
		AnnTemplate+"-db", `{{ with secret "secret/data/db" }}{{ .Data.data.password }}{{ end }}`,
		AnnTLSSecret, "vault-tls", AnnCACert, "/vault/tls/ca.crt",
	))
	cfg := testConfig()
	cfg.ServerVersion = "v1.37.2"
	b.ReportAllocs()
	for b.Loop() {
		out, _, err := Mutate(pod, cfg)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Patch(pod, out); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPatch(b *testing.B) {
	pod := loadPod(b, "web", basic(
		AnnTemplate+"-db", `{{ with secret "secret/data/db" }}{{ .Data.data.password }}{{ end }}`,
		AnnTLSSecret, "vault-tls", AnnCACert, "/vault/tls/ca.crt",
	))
	cfg := testConfig()
	cfg.ServerVersion = "v1.37.2"
	out, _, err := Mutate(pod, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Patch(pod, out); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMutateOnly(b *testing.B) {
	pod := loadPod(b, "web", basic(
		AnnTemplate+"-db", `{{ with secret "secret/data/db" }}{{ .Data.data.password }}{{ end }}`,
		AnnTLSSecret, "vault-tls", AnnCACert, "/vault/tls/ca.crt",
	))
	cfg := testConfig()
	cfg.ServerVersion = "v1.37.2"
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Mutate(pod, cfg); err != nil {
			b.Fatal(err)
		}
	}
}
