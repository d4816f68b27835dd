# The two set-up commands of the README.
#   make run   build in release mode, fetch the default model if absent, run the model service
#              (127.0.0.1:8080) and the chat tier (http://127.0.0.1:8081/, printed) together: scripts/run.sh
#   make test  build, fetch the models the tests use if absent (the default model and Gemma 3 270M for
#              its SentencePiece tokenizer), install PostgreSQL, chromium and Mesa's software Vulkan device
#              (lavapipe) if absent (the chat store's tests start a private server; the chat's browser test
#              drives chromium; the GPU backend's tests run on lavapipe), run every test, the server's end-to-end
#              tests again on lavapipe (`skiff serve --device vulkan`'s engine; the tests of the HTTP layer alone,
#              marked .httpLayer, the schemathesis fuzz among them, run in the first pass only), then the deploy checks
#              (whose tools and container bases download in the background meanwhile: deploy/tests/prepare.sh)
#
# Both install the build's own tools first if absent (Debian's packages): glslc, which compiles the GPU
# shaders to SPIR-V, and libvulkan-dev, the Vulkan API's headers.
#   make test-deploy  the deploy checks alone (Helm chart, Terraform, container image; tools install
#              themselves under .tools/)
SWIFT ?= swift

.PHONY: run test test-deploy build-tools

run: build-tools
	SWIFT="$(SWIFT)" scripts/run.sh

build-tools:
	command -v glslc >/dev/null 2>&1 && [ -f /usr/include/vulkan/vulkan.h ] || (apt-get update -q && apt-get install -y -q --no-install-recommends glslc libvulkan-dev)

test: build-tools
	ls /usr/share/vulkan/icd.d/lvp_icd.*.json >/dev/null 2>&1 || (apt-get update -q && apt-get install -y -q --no-install-recommends mesa-vulkan-drivers libvulkan1)
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || (apt-get update -q && apt-get install -y -q --no-install-recommends postgresql)
	command -v chromium >/dev/null 2>&1 || (apt-get update -q && apt-get install -y -q --no-install-recommends chromium)
	command -v podman >/dev/null 2>&1 && command -v runc >/dev/null 2>&1 && command -v debootstrap >/dev/null 2>&1 || (apt-get update -q && apt-get install -y -q --no-install-recommends podman runc debootstrap)
	deploy/tests/prepare.sh start
	$(SWIFT) build --build-tests
	"$$($(SWIFT) build --show-bin-path)/skiff" pull --quiet
	"$$($(SWIFT) build --show-bin-path)/skiff" pull gemma-3-270m --quiet
	$(SWIFT) test --skip-build
	SKIFF_TEST_DEVICE=vulkan $(SWIFT) test --skip-build --filter SkiffServerTests
	deploy/tests/prepare.sh wait
	$(MAKE) test-deploy

test-deploy:
	deploy/tests/run.sh
