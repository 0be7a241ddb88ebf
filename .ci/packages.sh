# Sourced by the CI scripts. `need_packages COMMAND=PACKAGE ...` installs the Debian/Ubuntu
# package of each command that is missing, and nothing when all are there;
# `install_packages PACKAGE ...` installs packages. apt-get runs as root, or through sudo if
# that needs no password; otherwise they say what to install and fail.

install_packages() {
  local as_root=""
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
      as_root="sudo"
    else
      echo "missing packages: $* (install them, or run as root)" >&2
      return 1
    fi
  fi
  if ! command -v apt-get >/dev/null; then
    echo "missing packages: $* (no apt-get here: install them by hand)" >&2
    return 1
  fi
  DEBIAN_FRONTEND=noninteractive $as_root apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive $as_root apt-get install -y -qq "$@" >/dev/null
}

need_packages() {
  local missing=() pair
  for pair in "$@"; do
    command -v "${pair%%=*}" >/dev/null || missing+=("${pair#*=}")
  done
  [ ${#missing[@]} -eq 0 ] || install_packages "${missing[@]}"
}
