# The two set-up commands of the README.
#   make run   fetch the default model if absent, build in release mode, serve it on 127.0.0.1:8080
#   make test  build, fetch the models the tests use if absent (the default model and Gemma 3 270M for
#              its SentencePiece tokenizer), install PostgreSQL if absent (the chat store's tests start a
#              private server), run every test, then the deploy checks
#   make test-deploy  the deploy checks alone (Helm chart, Terraform, container image; tools install
#              themselves under .tools/)
SWIFT ?= swift

.PHONY: run test test-deploy

run:
	$(SWIFT) build -c release --product skiff
	"$$($(SWIFT) build -c release --show-bin-path)/skiff" pull
	"$$($(SWIFT) build -c release --show-bin-path)/skiff" serve

test:
	$(SWIFT) build --build-tests
	"$$($(SWIFT) build --show-bin-path)/skiff" pull --quiet
	"$$($(SWIFT) build --show-bin-path)/skiff" pull gemma-3-270m --quiet
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || (apt-get update -q && apt-get install -y -q --no-install-recommends postgresql)
	$(SWIFT) test --skip-build
	$(MAKE) test-deploy

test-deploy:
	deploy/tests/run.sh
