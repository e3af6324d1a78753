package kubeclient

import (
	"context"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
)

// typed is the typed client of one resource, objects T and lists L, in one
// namespace ("" for a cluster-scoped resource). Its requests are those of
// client-go's generated clients (k8s.io/client-go/gentype): protobuf
// preferred, options as query parameters, and like them every call returns
// a fresh object, empty when it fails.
type typed[T, L runtime.Object] struct {
	c         rest.Interface
	resource  string
	namespace string
	newObj    func() T
	newList   func() L // nil when the resource is not listed
}

func (t typed[T, L]) request(r *rest.Request) *rest.Request {
	return r.UseProtobufAsDefault().NamespaceIfScoped(t.namespace, t.namespace != "").Resource(t.resource)
}

// timeout is the client-side bound of a list or watch: opts.TimeoutSeconds.
func timeout(opts metav1.ListOptions) time.Duration {
	if opts.TimeoutSeconds == nil {
		return 0
	}
	return time.Duration(*opts.TimeoutSeconds) * time.Second
}

// Get reads the object called name.
func (t typed[T, L]) Get(ctx context.Context, name string, opts metav1.GetOptions) (T, error) {
	obj := t.newObj()
	err := t.request(t.c.Get()).Name(name).VersionedParams(&opts, schemeCodecs().params).Do(ctx).Into(obj)
	return obj, err
}

// List reads the objects opts selects.
func (t typed[T, L]) List(ctx context.Context, opts metav1.ListOptions) (L, error) {
	list := t.newList()
	err := t.request(t.c.Get()).VersionedParams(&opts, schemeCodecs().params).Timeout(timeout(opts)).Do(ctx).Into(list)
	return list, err
}

// Watch watches the objects opts selects.
func (t typed[T, L]) Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	opts.Watch = true
	return t.request(t.c.Get()).VersionedParams(&opts, schemeCodecs().params).Timeout(timeout(opts)).Watch(ctx)
}

// Create creates obj and returns what the API server stored.
func (t typed[T, L]) Create(ctx context.Context, obj T, opts metav1.CreateOptions) (T, error) {
	out := t.newObj()
	err := t.request(t.c.Post()).VersionedParams(&opts, schemeCodecs().params).Body(obj).Do(ctx).Into(out)
	return out, err
}

// Patch patches the object called name (or its subresource) with data.
func (t typed[T, L]) Patch(ctx context.Context, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions, subresources ...string) (T, error) {
	out := t.newObj()
	err := t.request(t.c.Patch(pt)).Name(name).SubResource(subresources...).VersionedParams(&opts, schemeCodecs().params).Body(data).Do(ctx).Into(out)
	return out, err
}
