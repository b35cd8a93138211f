/* The CPython binding of softmaxkit's kernels: the only file that touches the
 * Python C API. Arrays arrive through the buffer protocol (no NumPy C API, so
 * the extension works with NumPy 1.x and 2.x alike), already in the layout the
 * kernels take (softmaxkit._dispatch arranges that); everything is checked
 * again here so that no call can make the C code read or write out of bounds.
 * The GIL is released while the kernels run.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#include "sk_isa.h"
#include "sk_kernels.h"

/* A buffer with its format decoded. */
typedef struct {
    Py_buffer view;
    int held;
    char kind; /* 'f' float32, 'd' float64, 'b' bool/uint8, 'q' int64 */
} arg_buffer;

static char kind_of(const Py_buffer *v) {
    const char *f = v->format ? v->format : "B";
    if (*f == '@' || *f == '=') f++;
#if PY_LITTLE_ENDIAN
    if (*f == '<') f++;
#else
    if (*f == '>' || *f == '!') f++;
#endif
    if (f[0] == '\0' || f[1] != '\0') return 0;
    switch (f[0]) {
        case 'f': return v->itemsize == 4 ? 'f' : 0;
        case 'd': return v->itemsize == 8 ? 'd' : 0;
        case '?': case 'B': return v->itemsize == 1 ? 'b' : 0;
        case 'l': case 'q': return v->itemsize == 8 ? 'q' : 0;
        default: return 0;
    }
}

static int get_buffer(PyObject *obj, arg_buffer *b, int writable, const char *name, int ndim,
                      const char *kinds) {
    b->held = 0;
    int flags = PyBUF_STRIDES | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, &b->view, flags) < 0) return -1;
    b->held = 1;
    b->kind = kind_of(&b->view);
    if (!b->kind || !strchr(kinds, b->kind)) {
        PyErr_Format(PyExc_TypeError, "%s: unsupported element format '%s'", name,
                     b->view.format ? b->view.format : "B");
        return -1;
    }
    if (b->view.ndim != ndim) {
        PyErr_Format(PyExc_ValueError, "%s must have %d dimensions, got %d", name, ndim,
                     b->view.ndim);
        return -1;
    }
    /* Aligned elements only: the loops dereference typed pointers. */
    if ((uintptr_t)b->view.buf % (uintptr_t)b->view.itemsize != 0) {
        PyErr_Format(PyExc_ValueError, "%s is not aligned", name);
        return -1;
    }
    for (int i = 0; i < ndim; i++) {
        /* (the stride of a dimension of length 1 is never used: any value is valid) */
        if (b->view.shape[i] > 1 && b->view.strides[i] % b->view.itemsize != 0) {
            PyErr_Format(PyExc_ValueError, "%s has a stride that is not a multiple of its item size",
                         name);
            return -1;
        }
    }
    return 0;
}

static void release(arg_buffer *b) {
    if (b->held) PyBuffer_Release(&b->view);
    b->held = 0;
}

/* An optional buffer's data, and the stride of its dimension dim: NULL and 0
 * where it was not given (the kernels then never read them). */
static void *data_or_null(const arg_buffer *b) { return b->held ? b->view.buf : NULL; }
static Py_ssize_t stride_or_zero(const arg_buffer *b, int dim) { return b->held ? b->view.strides[dim] : 0; }

/* The kernels' dtype of a float buffer ('f' or 'd'). */
static int dtype_of(char kind) { return kind == 'f' ? SK_F32 : SK_F64; }

static int same_shape(const arg_buffer *a, const arg_buffer *b, int ndim, const char *name) {
    for (int i = 0; i < ndim; i++) {
        if (a->view.shape[i] != b->view.shape[i]) {
            PyErr_Format(PyExc_ValueError, "%s has the wrong shape", name);
            return -1;
        }
    }
    return 0;
}

/* Along dimension dim, elements must be adjacent (unless there is at most one). */
static int unit_stride(const arg_buffer *b, int dim, const char *name) {
    if (b->view.shape[dim] > 1 && b->view.strides[dim] != b->view.itemsize) {
        PyErr_Format(PyExc_ValueError, "%s must be contiguous along dimension %d", name, dim);
        return -1;
    }
    return 0;
}

static int status_to_error(int status) {
    if (status == SK_NO_MEMORY) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

/* ok = whether call, a kernel's status, succeeded, the kernel run with the GIL
 * released; on failure the Python error is set. */
#define RUN_WITHOUT_GIL(ok, call)               \
    do {                                        \
        int status_;                            \
        Py_BEGIN_ALLOW_THREADS                  \
        status_ = (call);                       \
        Py_END_ALLOW_THREADS                    \
        (ok) = status_to_error(status_) == 0;   \
    } while (0)

static int check_threads(int n_threads) {
    if (n_threads < 1) {
        PyErr_Format(PyExc_ValueError, "n_threads must be >= 1, got %d", n_threads);
        return -1;
    }
    return 0;
}

PyDoc_STRVAR(reduce_doc,
             "reduce(op, x, out, mask, n_threads)\n\n"
             "op: 0 softmax, 1 log_softmax, 2 logsumexp. x: (outer, n, inner) float32/64 with\n"
             "the inner axis contiguous, or inner == 1 and the n axis contiguous. out: the\n"
             "same shape and layout rule (logsumexp: (outer, inner)). mask: None or bool of\n"
             "x's shape with the same contiguity.");

static PyObject *py_reduce(PyObject *self, PyObject *args) {
    (void)self;
    int op, n_threads;
    PyObject *x_obj, *out_obj, *mask_obj;
    if (!PyArg_ParseTuple(args, "iOOOi", &op, &x_obj, &out_obj, &mask_obj, &n_threads))
        return NULL;
    if (op < SK_SOFTMAX || op > SK_LOGSUMEXP) {
        PyErr_Format(PyExc_ValueError, "op must be 0, 1 or 2, got %d", op);
        return NULL;
    }
    if (check_threads(n_threads) < 0) return NULL;
    arg_buffer x, out, mask;
    out.held = mask.held = 0;
    int out_ndim = op == SK_LOGSUMEXP ? 2 : 3;
    int ok = get_buffer(x_obj, &x, 0, "x", 3, "fd") == 0 &&
             get_buffer(out_obj, &out, 1, "out", out_ndim, "fd") == 0;
    if (ok && out.kind != x.kind) {
        PyErr_SetString(PyExc_TypeError, "out must have the dtype of x");
        ok = 0;
    }
    if (ok && mask_obj != Py_None)
        ok = get_buffer(mask_obj, &mask, 0, "mask", 3, "b") == 0 && same_shape(&mask, &x, 3, "mask") == 0;
    if (ok) {
        Py_ssize_t outer = x.view.shape[0], n = x.view.shape[1], inner = x.view.shape[2];
        if (op == SK_LOGSUMEXP)
            ok = out.view.shape[0] == outer && out.view.shape[1] == inner;
        else
            ok = same_shape(&out, &x, 3, "out") == 0;
        if (!ok && !PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "out has the wrong shape");
        /* The fast axis: n in row mode (inner == 1), inner in column mode. */
        int fast = inner == 1 ? 1 : 2;
        if (ok) ok = unit_stride(&x, fast, "x") == 0;
        if (ok && op != SK_LOGSUMEXP) ok = unit_stride(&out, fast, "out") == 0;
        if (ok && op == SK_LOGSUMEXP && inner > 1) ok = unit_stride(&out, 1, "out") == 0;
        if (ok && mask.held) ok = unit_stride(&mask, fast, "mask") == 0;
        if (ok) {
            sk_reduce_args a;
            a.dtype = dtype_of(x.kind);
            a.op = op;
            a.x = (const char *)x.view.buf;
            a.out = (char *)out.view.buf;
            a.mask = (const uint8_t *)data_or_null(&mask);
            a.outer = outer;
            a.n = n;
            a.inner = inner;
            a.xs_outer = x.view.strides[0];
            a.xs_n = x.view.strides[1];
            a.os_outer = out.view.strides[0];
            a.os_n = op == SK_LOGSUMEXP ? 0 : out.view.strides[1];
            a.ms_outer = stride_or_zero(&mask, 0);
            a.ms_n = stride_or_zero(&mask, 1);
            RUN_WITHOUT_GIL(ok, sk_reduce(&a, n_threads));
        }
    }
    release(&x);
    release(&out);
    release(&mask);
    if (!ok) return NULL;
    Py_RETURN_NONE;
}

PyDoc_STRVAR(last_axis_doc,
             "last_axis(log, x, out)\n\n"
             "softmax (log=0) or log_softmax (log=1) over the last axis of a C-contiguous\n"
             "float32/64 array x (at least 1-D, last axis non-empty) into out, a C-contiguous\n"
             "array of the same dtype and size that is x's memory or does not overlap it, on\n"
             "one thread: the path for small calls, which skips reshaping to (outer, n, 1).");

/* Elements below which last_axis keeps the GIL: releasing and taking it back
   costs about as much as the softmax of a few dozen elements. */
#define SK_KEEP_GIL_BELOW 1024

/* Fast-call convention: the call is the whole cost of a softmax of a few
   elements, so no argument tuple is built or parsed. */
static PyObject *py_last_axis(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 3) {
        PyErr_Format(PyExc_TypeError, "last_axis takes 3 arguments (log, x, out), got %zd", nargs);
        return NULL;
    }
    int log = PyObject_IsTrue(args[0]);
    if (log < 0) return NULL;
    Py_buffer x, out;
    if (PyObject_GetBuffer(args[1], &x, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) return NULL;
    if (PyObject_GetBuffer(args[2], &out, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | PyBUF_WRITABLE) < 0) {
        PyBuffer_Release(&x);
        return NULL;
    }
    char kind = kind_of(&x);
    const char *x_start = (const char *)x.buf, *out_start = (const char *)out.buf;
    int ok = 1;
    if ((kind != 'f' && kind != 'd') || kind_of(&out) != kind) {
        PyErr_SetString(PyExc_TypeError, "x and out must both be float32 or both float64");
        ok = 0;
    } else if (x.ndim < 1 || x.shape[x.ndim - 1] == 0 || x.len != out.len) {
        PyErr_SetString(PyExc_ValueError, "x must have a non-empty last axis and out its size");
        ok = 0;
    } else if ((uintptr_t)x.buf % (uintptr_t)x.itemsize || (uintptr_t)out.buf % (uintptr_t)x.itemsize) {
        PyErr_SetString(PyExc_ValueError, "x and out must be aligned");
        ok = 0;
    } else if (x_start != out_start && x_start < out_start + out.len && out_start < x_start + x.len) {
        /* In place is fine (each row is read before it is written); a shifted
           overlap would read entries already overwritten. */
        PyErr_SetString(PyExc_ValueError, "out overlaps x without being x's memory");
        ok = 0;
    }
    if (ok) {
        Py_ssize_t n = x.shape[x.ndim - 1];
        sk_reduce_args a = {0};
        a.dtype = dtype_of(kind);
        a.op = log ? SK_LOG_SOFTMAX : SK_SOFTMAX;
        a.x = (const char *)x.buf;
        a.out = (char *)out.buf;
        a.n = n;
        a.outer = x.len / x.itemsize / n;
        a.inner = 1;
        a.xs_outer = a.os_outer = n * x.itemsize;
        a.xs_n = a.os_n = x.itemsize;
        if (x.len / x.itemsize < SK_KEEP_GIL_BELOW)
            ok = status_to_error(sk_reduce(&a, 1)) == 0;
        else
            RUN_WITHOUT_GIL(ok, sk_reduce(&a, 1));
    }
    PyBuffer_Release(&x);
    PyBuffer_Release(&out);
    if (!ok) return NULL;
    Py_RETURN_NONE;
}

PyDoc_STRVAR(vjp_doc,
             "vjp(log, y, g, out, mask, temperature, n_threads)\n\n"
             "Rows of y, g, out (and the bool mask, or None): 2-D, each row contiguous.");

static PyObject *py_vjp(PyObject *self, PyObject *args) {
    (void)self;
    int log, n_threads;
    double temperature;
    PyObject *y_obj, *g_obj, *out_obj, *mask_obj;
    if (!PyArg_ParseTuple(args, "pOOOOdi", &log, &y_obj, &g_obj, &out_obj, &mask_obj,
                          &temperature, &n_threads))
        return NULL;
    if (check_threads(n_threads) < 0) return NULL;
    arg_buffer y, g, out, mask;
    g.held = out.held = mask.held = 0;
    int ok = get_buffer(y_obj, &y, 0, "y", 2, "fd") == 0 &&
             get_buffer(g_obj, &g, 0, "g", 2, "fd") == 0 &&
             get_buffer(out_obj, &out, 1, "out", 2, "fd") == 0;
    if (ok && (g.kind != y.kind || out.kind != y.kind)) {
        PyErr_SetString(PyExc_TypeError, "y, g and out must have one dtype");
        ok = 0;
    }
    if (ok && mask_obj != Py_None)
        ok = get_buffer(mask_obj, &mask, 0, "mask", 2, "b") == 0 && unit_stride(&mask, 1, "mask") == 0 &&
             same_shape(&mask, &y, 2, "mask") == 0;
    ok = ok && same_shape(&g, &y, 2, "g") == 0 && same_shape(&out, &y, 2, "out") == 0 &&
         unit_stride(&y, 1, "y") == 0 && unit_stride(&g, 1, "g") == 0 &&
         unit_stride(&out, 1, "out") == 0;
    if (ok) {
        sk_vjp_args a;
        a.dtype = dtype_of(y.kind);
        a.log = log;
        a.y = (const char *)y.view.buf;
        a.g = (const char *)g.view.buf;
        a.out = (char *)out.view.buf;
        a.mask = (const uint8_t *)data_or_null(&mask);
        a.temperature = temperature;
        a.rows = y.view.shape[0];
        a.n = y.view.shape[1];
        a.ys = y.view.strides[0];
        a.gs = g.view.strides[0];
        a.os = out.view.strides[0];
        a.ms = stride_or_zero(&mask, 0);
        RUN_WITHOUT_GIL(ok, sk_vjp(&a, n_threads));
    }
    release(&y);
    release(&g);
    release(&out);
    release(&mask);
    if (!ok) return NULL;
    Py_RETURN_NONE;
}

PyDoc_STRVAR(ce_doc,
             "cross_entropy(logits, target, probs, weight, smoothing_weight, ignore_index,\n"
             "              smoothing, grad_scale, loss, grad, n_threads)\n\n"
             "logits (rows, C), rows contiguous; target int64 (rows,) or None; probs\n"
             "(rows, C) or None (exactly one of the two); weight float64 (C,) or None;\n"
             "loss float64 (rows,) is written; grad (rows, C) or None.");

static PyObject *py_cross_entropy(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *z_obj, *t_obj, *p_obj, *w_obj, *loss_obj, *grad_obj;
    double smoothing_weight, smoothing, grad_scale;
    long long ignore_index;
    int n_threads;
    if (!PyArg_ParseTuple(args, "OOOOdLddOOi", &z_obj, &t_obj, &p_obj, &w_obj, &smoothing_weight,
                          &ignore_index, &smoothing, &grad_scale, &loss_obj, &grad_obj,
                          &n_threads))
        return NULL;
    if (check_threads(n_threads) < 0) return NULL;
    if ((t_obj == Py_None) == (p_obj == Py_None)) {
        PyErr_SetString(PyExc_ValueError, "give exactly one of target and probs");
        return NULL;
    }
    arg_buffer z, t, p, w, loss, grad;
    t.held = p.held = w.held = loss.held = grad.held = 0;
    int ok = get_buffer(z_obj, &z, 0, "logits", 2, "fd") == 0 && unit_stride(&z, 1, "logits") == 0;
    Py_ssize_t rows = ok ? z.view.shape[0] : 0, n = ok ? z.view.shape[1] : 0;
    if (ok && t_obj != Py_None) {
        ok = get_buffer(t_obj, &t, 0, "target", 1, "q") == 0 && unit_stride(&t, 0, "target") == 0;
        if (ok && t.view.shape[0] != rows) {
            PyErr_SetString(PyExc_ValueError, "target has the wrong shape");
            ok = 0;
        }
        /* Every index must be a class or ignore_index: the loops index with it. */
        for (Py_ssize_t r = 0; ok && r < rows; r++) {
            int64_t y = ((const int64_t *)t.view.buf)[r];
            if (y != ignore_index && (y < 0 || y >= n)) {
                PyErr_Format(PyExc_ValueError, "target holds %lld, not a class index",
                             (long long)y);
                ok = 0;
            }
        }
    }
    if (ok && p_obj != Py_None) {
        ok = get_buffer(p_obj, &p, 0, "probs", 2, "fd") == 0 && unit_stride(&p, 1, "probs") == 0 &&
             same_shape(&p, &z, 2, "probs") == 0;
        if (ok && p.kind != z.kind) {
            PyErr_SetString(PyExc_TypeError, "probs must have the dtype of logits");
            ok = 0;
        }
    }
    if (ok && w_obj != Py_None) {
        ok = get_buffer(w_obj, &w, 0, "weight", 1, "d") == 0 && unit_stride(&w, 0, "weight") == 0;
        if (ok && w.view.shape[0] != n) {
            PyErr_SetString(PyExc_ValueError, "weight has the wrong shape");
            ok = 0;
        }
    }
    if (ok) {
        ok = get_buffer(loss_obj, &loss, 1, "loss", 1, "d") == 0 && unit_stride(&loss, 0, "loss") == 0;
        if (ok && loss.view.shape[0] != rows) {
            PyErr_SetString(PyExc_ValueError, "loss has the wrong shape");
            ok = 0;
        }
    }
    if (ok && grad_obj != Py_None) {
        ok = get_buffer(grad_obj, &grad, 1, "grad", 2, "fd") == 0 && unit_stride(&grad, 1, "grad") == 0 &&
             same_shape(&grad, &z, 2, "grad") == 0;
        if (ok && grad.kind != z.kind) {
            PyErr_SetString(PyExc_TypeError, "grad must have the dtype of logits");
            ok = 0;
        }
    }
    if (ok && n == 0) {
        PyErr_SetString(PyExc_ValueError, "logits must have at least one class");
        ok = 0;
    }
    if (ok) {
        sk_ce_args a;
        a.dtype = dtype_of(z.kind);
        a.logits = (const char *)z.view.buf;
        a.target = (const int64_t *)data_or_null(&t);
        a.probs = (const char *)data_or_null(&p);
        a.weight = (const double *)data_or_null(&w);
        a.smoothing_weight = smoothing_weight;
        a.ignore_index = (int64_t)ignore_index;
        a.smoothing = smoothing;
        a.grad_scale = grad_scale;
        a.loss = (double *)loss.view.buf;
        a.grad = (char *)data_or_null(&grad);
        a.rows = rows;
        a.n = n;
        a.ls = z.view.strides[0];
        a.ps = stride_or_zero(&p, 0);
        a.gs = stride_or_zero(&grad, 0);
        RUN_WITHOUT_GIL(ok, sk_cross_entropy(&a, n_threads));
    }
    release(&z);
    release(&t);
    release(&p);
    release(&w);
    release(&loss);
    release(&grad);
    if (!ok) return NULL;
    Py_RETURN_NONE;
}

static PyObject *py_isa(PyObject *self, PyObject *unused) {
    (void)self;
    (void)unused;
    return PyUnicode_FromString(sk_isa_name());
}

static PyMethodDef methods[] = {
    {"reduce", py_reduce, METH_VARARGS, reduce_doc},
    {"last_axis", (PyCFunction)(void (*)(void))py_last_axis, METH_FASTCALL, last_axis_doc},
    {"vjp", py_vjp, METH_VARARGS, vjp_doc},
    {"cross_entropy", py_cross_entropy, METH_VARARGS, ce_doc},
    {"isa", py_isa, METH_NOARGS, "The instruction set the loops run with on this CPU."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_kernel", "softmaxkit's compiled CPU kernels (private).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__kernel(void) {
    sk_isa(); /* choose the ISA now, under the GIL, so no kernel thread races on it */
    return PyModule_Create(&module);
}
