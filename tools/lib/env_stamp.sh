# The stamp of a built environment, shared by tools/bootstrap.sh and tools/setup_hub_env.sh (sourced,
# not run). A finished environment carries a stamp file holding a hash of the inputs it was built
# from; a run with the same inputs only re-checks the imports. An environment without a matching
# stamp is half-built or stale: it is removed and built again, never used.
#
#   env_layout DIR STAMP_NAME                             # VENV, PY, STAMP, PYTHON_BIN
#   WANT="$(env_stamp_hash EXTRA FILE...)"                 # the inputs' hash (this file included)
#   env_reuse_if_current NAME STAMP WANT "${1:-}" CHECK WHAT   # exits 0 if current and CHECK passes
#   env_remove_stale NAME DIR                             # otherwise: the old folder goes
#   ... build ...
#   env_stamp_write STAMP WANT                            # last, once everything passed
ENV_STAMP_LIB="${BASH_SOURCE[0]}"

# env_layout DIR STAMP_NAME: sets VENV (DIR), PY (its python), STAMP (DIR/STAMP_NAME) and PYTHON_BIN,
# the interpreter that creates it ($PYTHON, else python3.11, else python3).
env_layout() {
  VENV="$1"
  PY="$VENV/bin/python"
  STAMP="$VENV/$2"
  PYTHON_BIN="${PYTHON:-python3.11}"
  command -v "$PYTHON_BIN" >/dev/null 2>&1 || PYTHON_BIN=python3
}

# env_stamp_hash EXTRA FILE...: sha256 of the files, this file and the line EXTRA (e.g. a mode).
env_stamp_hash() {
  local extra="$1"
  shift
  { cat "$@" "$ENV_STAMP_LIB"; echo "$extra"; } | sha256sum | cut -d' ' -f1
}

# env_stamp_current STAMP WANT [ARG]: true when STAMP holds WANT and ARG is not --force.
env_stamp_current() {
  [[ "${3:-}" != "--force" && -f "$1" && "$(cat "$1")" == "$2" ]]
}

# env_reuse_if_current NAME STAMP WANT ARG CHECK WHAT: with a current stamp, runs the function CHECK
# (the imports); exits 0 when it passes, else says so and returns, so the caller rebuilds.
env_reuse_if_current() {
  local name="$1" stamp="$2" want="$3" arg="$4" check="$5" what="$6"
  if env_stamp_current "$stamp" "$want" "$arg"; then
    if "$check"; then
      echo "$name: $what is up to date."
      exit 0
    fi
    echo "$name: $what has a stamp but its imports fail; rebuilding." >&2
  fi
}

# env_remove_stale NAME DIR: removes an environment folder without a current stamp.
env_remove_stale() {
  if [[ -d "$2" ]]; then
    echo "$1: removing incomplete or stale $2"
    rm -rf "$2"
  fi
}

# env_imports_ok PYTHON LINE...: runs the Python lines (imports) with PYTHON; true when they pass.
env_imports_ok() {
  local py="$1"
  shift
  printf '%s\n' "$@" | "$py" -
}

# env_stamp_write STAMP WANT: marks the environment finished.
env_stamp_write() {
  echo "$2" > "$1"
}
