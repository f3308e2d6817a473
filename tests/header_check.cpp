// Empty on purpose: tests/meson.build compiles it once per public header with
// that header force-included (-include), to check each header stands alone.
