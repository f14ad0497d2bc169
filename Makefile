# The seed's one-liners for httptrace in containers; each calls deploy/container/run.sh, which
# documents the variables (ENGINE_SOCKET, TRACES_DIR, OUTPUT_FILE, DEMO_PORT, ...).
#
#   make docker-build docker-up test docker-down      # with Docker
#   make podman-build podman-up test podman-down      # with Podman (rootful)
#   cat traces/http-trace.txt
#
# `make test` uses $(ENGINE) (docker when its daemon answers, else podman).

RUN := deploy/container/run.sh
ENGINE ?=

.PHONY: docker-build docker-up docker-down docker-logs podman-build podman-up podman-down \
	podman-logs test logs

docker-build:
	$(RUN) --engine docker build
docker-up:
	$(RUN) --engine docker up
docker-down:
	$(RUN) --engine docker down
docker-logs:
	$(RUN) --engine docker logs

podman-build:
	$(RUN) --engine podman build
podman-up:
	$(RUN) --engine podman up
podman-down:
	$(RUN) --engine podman down
podman-logs:
	$(RUN) --engine podman logs

test:
	$(RUN) $(if $(ENGINE),--engine $(ENGINE)) test
logs:
	$(RUN) $(if $(ENGINE),--engine $(ENGINE)) logs
