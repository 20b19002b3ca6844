# Sourced by the test scripts: `apt_install PACKAGE...` installs Debian packages that are
# missing (CI and fresh machines run as root; elsewhere through sudo). `at_exit COMMAND` runs
# COMMAND when the script exits, before whatever was registered earlier (services stop in the
# reverse order they started).
apt_install() {
  local missing=()
  for package in "$@"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

at_exit() {
  local earlier
  earlier=$(trap -p EXIT | sed -e "s/^trap -- '//" -e "s/' EXIT\$//")
  # shellcheck disable=SC2064 # expanded now, on purpose
  trap "$1; ${earlier:-:}" EXIT
}
