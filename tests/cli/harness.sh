# Shared by the shell tests (sourced): a scratch directory removed at exit,
# `bad` to record a failure and go on, `code` to run a command with its
# output in $T/out and $T/err and print its exit status. Exit with $fail.
set -u
fail=0
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
bad() { echo "FAIL: $*" >&2; fail=1; }
code() { "$@" >"$T/out" 2>"$T/err"; echo $?; }
