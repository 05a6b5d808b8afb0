# Two copies of a small web server in Docker, behind one service.
#
# No registry is needed: `scripts/build-local-images` imports `local/busybox:e2e` from the host's
# static busybox. On a host with a registry, any image works (`image = "nginx:1.25"`, say).
#
#     scripts/build-local-images && nomadctl job run jobs/hello-docker.nomad.hcl

job "hello-docker" {
  datacenters = ["*"]
  type        = "service"

  group "web" {
    count = 2

    # The scheduler picks a host port per copy; inside the container httpd listens on 8080.
    network {
      port "http" {
        to = 8080
      }
    }

    service {
      name     = "hello-docker"
      port     = "http"
      provider = "nomad"

      check {
        type     = "tcp"
        interval = "10s"
        timeout  = "2s"
      }
    }

    task "httpd" {
      driver = "docker"

      config {
        image   = "local/busybox:e2e"
        command = "sh"
        args    = ["-c", "echo hello-docker copy $NOMAD_ALLOC_INDEX; exec httpd -f -p 8080 -h /www"]
        ports   = ["http"]
        labels  = { app = "hello-docker" }
      }

      # httpd runs as the container's pid 1, which ignores SIGTERM: do not wait long for it.
      kill_timeout = "2s"

      resources {
        cpu    = 100
        memory = 32
      }
    }
  }
}
