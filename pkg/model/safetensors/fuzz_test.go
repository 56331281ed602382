package safetensors

import (
	"os"
	"testing"
)

// FuzzParseHeader feeds arbitrary bytes to FromBytes: it must never panic,
// and whatever it accepts must be internally consistent.
func FuzzParseHeader(f *testing.F) {
	if fixture, err := os.ReadFile("testdata/fixture.safetensors"); err == nil {
		f.Add(fixture)
	}
	f.Add(build(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, f32bytes(1, 2)))
	f.Add(build(`{"__metadata__":{"format":"pt"},"h":{"dtype":"F16","shape":[1,1],"data_offsets":[0,2]}}`, []byte{0, 0x3c}))
	f.Add(build(`{"q":{"dtype":"F4","shape":[4],"data_offsets":[0,2]}}`, []byte{1, 2}))
	f.Add(build(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}`, []byte{1, 2}))
	f.Add(build(`{"a":{"dtype":"U8","shape":[4294967296,4294967296],"data_offsets":[0,8]}}`, make([]byte, 8)))
	f.Add(build(`{"a":{"dtype":"BF16","shape":[0],"data_offsets":[0,0]}}`, nil))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := FromBytes("fuzz", data)
		if err != nil {
			return
		}
		var total int64
		for _, name := range file.Names() {
			info, ok := file.Info(name)
			if !ok {
				t.Fatalf("listed tensor %q has no info", name)
			}
			total += info.ByteSize()
			tn, err := file.Tensor(name)
			if err != nil {
				if info.DType.Known() {
					t.Fatalf("known dtype tensor %q: %v", name, err)
				}
				continue
			}
			if int64(len(tn.Data)) != info.ByteSize() || info.NumElements()*int64(info.DType.Size()) != info.ByteSize() {
				t.Fatalf("tensor %q: %d data bytes, info %+v", name, len(tn.Data), info)
			}
			if _, ok := tn.DType.Elem(); ok {
				if _, err := tn.Float32s(); err != nil {
					t.Fatalf("tensor %q: %v", name, err)
				}
			}
		}
		if total != file.Size()-file.DataOffset() {
			t.Fatalf("tensors cover %d bytes of a %d-byte buffer", total, file.Size()-file.DataOffset())
		}
	})
}
