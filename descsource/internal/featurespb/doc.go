// Package featurespb is the Go code protoc-gen-go writes for
// google/protobuf/cpp_features.proto and google/protobuf/java_features.proto,
// the two standard imports for which the protobuf module has no Go package.
//
// It exists for start-up time. protocompile offers these files to every
// compilation and, at init, builds them from descriptor sets it embeds
// unless a Go package has registered them already: that costs every grpcx
// process half a millisecond, a tenth of a one-shot call. Registered here,
// they cost what any generated file costs, which is next to nothing.
//
// Go initialises a package once its imports are: among the packages ready
// at each step it takes the first by import path. This package needs only
// descriptorpb, while protocompile also waits for packages after it by path
// (pluginpb among them), so it is registered first; descsource's tests
// check that protocompile took it.
//
// The files are registered globally under their own names, pb.CppFeatures
// and pb.JavaFeatures among them: should another dependency ever link
// generated code for the same files, the program would fail at start-up
// with a registration conflict, and this package should then go.
package featurespb

//go:generate go run ./gen
