# Two copies of a small web server in Docker, behind the servers' nginx at
# http://192.168.10.11/hello-docker/.
#
# The lab's clients pull busybox from Docker Hub. Without a registry, import one from a static
# busybox and tag it busybox:1.36 on each client (scripts/build-local-images makes
# local/busybox:e2e; scripts/test-lab loads it into its client containers that way).
#
#     nomadctl job run /vagrant/jobs/hello-docker.nomad.hcl

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
        image   = "busybox:1.36"
        command = "sh"
        args    = ["-c", "echo hello-docker copy $NOMAD_ALLOC_INDEX; mkdir -p /tmp/www; echo \"hello from docker, alloc $NOMAD_ALLOC_ID\" > /tmp/www/index.html; exec httpd -f -p 8080 -h /tmp/www"]
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
