#!/usr/bin/env bash
# The deploy checks (`make test-deploy`): installs the tools under .tools/, then runs the Helm,
# Terraform and container tests with pytest. Extra arguments go to pytest.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
"$here/install-tools.sh"
cd "$here"
exec "$here/../../.tools/deploy-venv/bin/pytest" -q -p no:cacheprovider "$@"
