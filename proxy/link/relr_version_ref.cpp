// Makes lld 14 record the GLIBC_ABI_DT_RELR version dependency that glibc >= 2.36 requires of a
// binary whose relative relocations are packed (DT_RELR). GNU ld and lld >= 15 add it themselves
// with -z pack-relative-relocs; lld 14 only packs (--pack-dyn-relocs=relr). libc.so.6 defines the
// version with one absolute symbol of the same name, and a reference to that symbol makes the
// linker list the version among the binary's needs. Linked into meshdeck-proxy only in that case
// (see meshdeck_link_static_deps in cmake/MeshdeckStaticDeps.cmake), kept by -u.
extern "C" {
extern char GLIBC_ABI_DT_RELR __attribute__((weak));
void* volatile meshdeck_relr_version_ref = &GLIBC_ABI_DT_RELR;
}
