/*
 * C accelerator for mailbeacon.core.instrumentation.tokens: the HMAC-SHA256 arithmetic of minting and checking
 * one token, with OpenSSL's SHA-256 and precomputed HMAC pad states.
 *
 * Why it exists: a message's every link needs a token; through hashlib each costs ~5 us on
 * these machines (mostly call overhead), which alone caps instrumentation below its 100 MB/s
 * target. tokens.py holds the identical pure-Python implementation (the reference and the
 * fallback); tests/core/test_tokens.py checks they agree.
 *
 * PurposeKey(mac_key: bytes, seal_key: bytes)
 *   .mint(header: bytes[2], shared: bytes[8], audience: bytes, link_index: int) -> str
 *   .check(raw: bytes[24], audience: bytes) -> bytes[10] | None   (the unsealed fields)
 */
#define PY_SSIZE_T_CLEAN
#define OPENSSL_SUPPRESS_DEPRECATED /* the low-level SHA256_* API: no per-call provider fetch */
#include <Python.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <string.h>

#define TAG_BYTES 12
#define FIELDS_BYTES 10
#define RAW_BYTES (2 + FIELDS_BYTES + TAG_BYTES)

typedef struct {
    SHA256_CTX inner, outer;
} Hmac;

typedef struct {
    PyObject_HEAD
    Hmac mac, seal;
} PurposeKey;

static void hmac_init(Hmac *h, const unsigned char *key, Py_ssize_t len) {
    unsigned char block[64] = {0}, pad[64];
    if (len > 64) {
        SHA256(key, (size_t)len, block);
    } else {
        memcpy(block, key, (size_t)len);
    }
    for (int i = 0; i < 64; i++) pad[i] = block[i] ^ 0x36;
    SHA256_Init(&h->inner);
    SHA256_Update(&h->inner, pad, 64);
    for (int i = 0; i < 64; i++) pad[i] = block[i] ^ 0x5c;
    SHA256_Init(&h->outer);
    SHA256_Update(&h->outer, pad, 64);
    OPENSSL_cleanse(block, sizeof block);
    OPENSSL_cleanse(pad, sizeof pad);
}

static void hmac_finish(const Hmac *h, SHA256_CTX *inner, unsigned char out[32]) {
    unsigned char digest[32];
    SHA256_Final(digest, inner);
    SHA256_CTX outer = h->outer;
    SHA256_Update(&outer, digest, 32);
    SHA256_Final(out, &outer);
}

/* HMAC(mac key, len(audience) | audience | header | fields)[:12] */
static void tag_of(const PurposeKey *k, const unsigned char *header, const unsigned char *fields,
                   const unsigned char *aud, Py_ssize_t aud_len, unsigned char tag[TAG_BYTES]) {
    unsigned char digest[32], n = (unsigned char)aud_len;
    SHA256_CTX inner = k->mac.inner;
    SHA256_Update(&inner, &n, 1);
    SHA256_Update(&inner, aud, (size_t)aud_len);
    SHA256_Update(&inner, header, 2);
    SHA256_Update(&inner, fields, FIELDS_BYTES);
    hmac_finish(&k->mac, &inner, digest);
    memcpy(tag, digest, TAG_BYTES);
}

/* HMAC(seal key, tag)[:10], XORed onto the fields. */
static void seal(const PurposeKey *k, const unsigned char tag[TAG_BYTES], unsigned char *fields) {
    unsigned char digest[32];
    SHA256_CTX inner = k->seal.inner;
    SHA256_Update(&inner, tag, TAG_BYTES);
    hmac_finish(&k->seal, &inner, digest);
    for (int i = 0; i < FIELDS_BYTES; i++) fields[i] ^= digest[i];
}

static const char B64URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static PyObject *PurposeKey_mint(PurposeKey *self, PyObject *args) {
    Py_buffer header, shared, aud;
    unsigned long long link_index;
    if (!PyArg_ParseTuple(args, "y*y*y*K", &header, &shared, &aud, &link_index)) return NULL;
    PyObject *result = NULL;
    if (header.len != 2 || shared.len != 8 || aud.len > 255 || link_index > 0xFFFF) {
        PyErr_SetString(PyExc_ValueError, "mint(): bad header, fields, audience or link index");
        goto done;
    }
    unsigned char raw[RAW_BYTES], *fields = raw + 2, *tag = raw + 2 + FIELDS_BYTES;
    memcpy(raw, header.buf, 2);
    memcpy(fields, shared.buf, 8);
    fields[8] = (unsigned char)(link_index >> 8);
    fields[9] = (unsigned char)link_index;
    tag_of(self, raw, fields, aud.buf, aud.len, tag);
    seal(self, tag, fields);
    result = PyUnicode_New(RAW_BYTES / 3 * 4, 127);
    if (result) {
        Py_UCS1 *out = PyUnicode_1BYTE_DATA(result);
        for (int i = 0, o = 0; i < RAW_BYTES; i += 3, o += 4) {
            unsigned v = (unsigned)raw[i] << 16 | (unsigned)raw[i + 1] << 8 | raw[i + 2];
            out[o] = (Py_UCS1)B64URL[v >> 18];
            out[o + 1] = (Py_UCS1)B64URL[(v >> 12) & 63];
            out[o + 2] = (Py_UCS1)B64URL[(v >> 6) & 63];
            out[o + 3] = (Py_UCS1)B64URL[v & 63];
        }
    }
done:
    PyBuffer_Release(&header);
    PyBuffer_Release(&shared);
    PyBuffer_Release(&aud);
    return result;
}

static PyObject *PurposeKey_check(PurposeKey *self, PyObject *args) {
    Py_buffer raw, aud;
    if (!PyArg_ParseTuple(args, "y*y*", &raw, &aud)) return NULL;
    PyObject *result = NULL;
    if (raw.len != RAW_BYTES || aud.len > 255) {
        PyErr_SetString(PyExc_ValueError, "check(): bad token length or audience");
        goto done;
    }
    const unsigned char *r = raw.buf, *tag = r + 2 + FIELDS_BYTES;
    unsigned char fields[FIELDS_BYTES], expected[TAG_BYTES];
    memcpy(fields, r + 2, FIELDS_BYTES);
    seal(self, tag, fields); /* XOR is its own inverse */
    tag_of(self, r, fields, aud.buf, aud.len, expected);
    if (CRYPTO_memcmp(expected, tag, TAG_BYTES) == 0) {
        result = PyBytes_FromStringAndSize((const char *)fields, FIELDS_BYTES);
    } else {
        result = Py_NewRef(Py_None);
    }
done:
    PyBuffer_Release(&raw);
    PyBuffer_Release(&aud);
    return result;
}

static int PurposeKey_init(PurposeKey *self, PyObject *args, PyObject *kwds) {
    Py_buffer mac_key, seal_key;
    static char *kwlist[] = {"mac_key", "seal_key", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "y*y*", kwlist, &mac_key, &seal_key)) return -1;
    hmac_init(&self->mac, mac_key.buf, mac_key.len);
    hmac_init(&self->seal, seal_key.buf, seal_key.len);
    PyBuffer_Release(&mac_key);
    PyBuffer_Release(&seal_key);
    return 0;
}

static void PurposeKey_dealloc(PurposeKey *self) {
    OPENSSL_cleanse(&self->mac, sizeof self->mac);
    OPENSSL_cleanse(&self->seal, sizeof self->seal);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef PurposeKey_methods[] = {
    {"mint", (PyCFunction)PurposeKey_mint, METH_VARARGS, "Mint one token (see tokens.py)."},
    {"check", (PyCFunction)PurposeKey_check, METH_VARARGS, "Unseal and check a raw token."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject PurposeKeyType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "mailbeacon.core.instrumentation._mint.PurposeKey",
    .tp_basicsize = sizeof(PurposeKey),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)PurposeKey_init,
    .tp_dealloc = (destructor)PurposeKey_dealloc,
    .tp_methods = PurposeKey_methods,
    .tp_doc = "HMAC-SHA256 states for one purpose of one signing key.",
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_mint", NULL, -1, NULL};

PyMODINIT_FUNC PyInit__mint(void) {
    if (PyType_Ready(&PurposeKeyType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    if (PyModule_AddObjectRef(m, "PurposeKey", (PyObject *)&PurposeKeyType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
