# A batch task under the exec driver: its own mount, PID, IPC and UTS namespaces, a chroot of the
# host's /bin, /lib, /usr ... (the client's chroot_env), cgroup limits from its resources, and the
# user nobody. It prints what it can see of the machine, then ends.
#
#     nomadctl job run jobs/exec.nomad.hcl && nomadctl alloc logs <alloc> probe

job "exec-example" {
  datacenters = ["*"]
  type        = "batch"

  group "probe" {
    task "probe" {
      driver = "exec"

      config {
        command = "/bin/sh"
        args = ["-c", <<-EOT
          echo "user: $(id -un) ($(id -u))"
          echo "hostname: $(hostname)"
          echo "processes I can see: $(ls /proc | grep -c '^[0-9]')"
          echo "my task dir: $NOMAD_TASK_DIR"; ls -la "$NOMAD_TASK_DIR"
        EOT
        ]
      }

      resources {
        cpu    = 100
        memory = 64
      }
    }
  }
}
