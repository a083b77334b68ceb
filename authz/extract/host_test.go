package extract

import (
	"strings"
	"testing"
)

func TestHost(t *testing.T) {
	long63 := strings.Repeat("a", 63)
	name253 := strings.Repeat(long63+".", 3) + strings.Repeat("b", 253-3*64) // 253 bytes
	if len(name253) != 253 {
		t.Fatalf("name253 has %d bytes", len(name253))
	}
	for _, tc := range []struct{ in, want string }{
		{"example.com", "example.com"},
		{"www.example.com", "www.example.com"},
		{"WWW.Example.COM", "www.example.com"},
		{"example.com:443", "example.com"},
		{"example.com:8443", "example.com"},
		{"Example.com:0", "example.com"},
		{"example.com.", "example.com"},
		{"example.com.:443", "example.com"},
		{"EXAMPLE.COM.:65535", "example.com"},
		{"localhost", "localhost"},
		{"a-b.x-1.example", "a-b.x-1.example"},
		{"xn--bcher-kva.example", "xn--bcher-kva.example"},
		{"192.0.2.1", "192.0.2.1"},
		{"192.0.2.1:80", "192.0.2.1"},
		{"*.x.com", "*.x.com"},
		{"*.X.com:443", "*.x.com"},
		{long63 + ".com", long63 + ".com"},
		{name253, name253},
		{name253 + ".", name253},
		{name253 + ".:443", name253},
		// refused
		{"", ""},
		{".", ""},
		{":443", ""},
		{"example.com:", ""},
		{"example.com:65536", ""},
		{"example.com:123456", ""},
		{"example.com:-1", ""},
		{"example.com:+443", ""},
		{"example.com:44a", ""},
		{"example.com:443:443", ""},
		{"example.com..", ""},
		{".example.com", ""},
		{"a..example.com", ""},
		{"[::1]:443", ""},
		{"[::1]", ""},
		{"::1", ""},
		{"2001:db8::1", ""},
		{"[2001:db8::1]:8443", ""},
		{"exa mple.com", ""},
		{"exa_mple.com", ""},
		{"example.com/", ""},
		{"user@example.com", ""},
		{"example.com\r\n", ""},
		{"example.com\x00", ""},
		{"exämple.com", ""},
		{"ＥＸＡＭＰＬＥ.com", ""},
		{"*", ""},
		{"*.", ""},
		{"*example.com", ""},
		{"a*.example.com", ""},
		{"a.*.example.com", ""},
		{"*.*.example.com", ""},
		{strings.Repeat("a", 64) + ".com", ""},
		{name253 + "x", ""},
		{"x" + name253 + ".", ""},
	} {
		if got := Host(tc.in); got != tc.want {
			t.Errorf("Host(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestWildcard(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"a.example.com", "*.example.com"},
		{"www.example.com", "*.example.com"},
		{"a.b.example.com", "*.b.example.com"},
		{"x-1.a.b.c.d", "*.a.b.c.d"},
		{"1.2.3.4", "*.2.3.4"},
		{"example.com", ""},
		{"com", ""},
		{"", ""},
		{"*.example.com", ""},
		{"*.a.example.com", ""},
		{"a.*.example.com", ""},
		{".example.com", ""},
		{"a.", ""},
		{"a.b", ""},
	} {
		if got := Wildcard(tc.in); got != tc.want {
			t.Errorf("Wildcard(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestHostAllocs(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { _ = Host("www.example.com:443") }); n != 0 {
		t.Errorf("Host of a lowercase name allocates %v times", n)
	}
}

func BenchmarkHost(b *testing.B) {
	for _, in := range []string{"www.example.com:443", "WWW.Example.com."} {
		b.Run(in, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if Host(in) == "" {
					b.Fatal("refused")
				}
			}
		})
	}
}
