using QemuTestKit.Fixtures.Xunit;

namespace DistroGuest.Xunit;

/// <summary>The root file system is the qcow2 disk on virtio-blk; each machine writes to its own overlay.</summary>
public sealed class DistroDiskTests(QemuFixture qemu) : IClassFixture<QemuFixture>
{
    [Fact]
    public async Task The_root_is_the_ext4_disk()
    {
        await using var guest = await qemu.StartAsync("distro");

        var root = await guest.ExecAsync("awk '$2 == \"/\" { print $1, $3, substr($4, 1, 2) }' /proc/mounts");

        root.Output.Should().Be("/dev/vda ext4 rw");
    }

    [Fact]
    public async Task A_file_written_to_the_disk_reads_back_after_dropping_the_caches()
    {
        await using var guest = await qemu.StartAsync("distro");

        await guest.ExecAsync("head -c 1048576 /dev/urandom > /var/tmp/probe && sha256sum /var/tmp/probe > /var/tmp/probe.sum && sync",
            TimeSpan.FromMinutes(2));
        // Read from the disk, not the page cache.
        (await guest.ExecAsync("echo 3 > /proc/sys/vm/drop_caches")).ExitCode.Should().Be(0);
        var check = await guest.ExecAsync("sha256sum -c /var/tmp/probe.sum", TimeSpan.FromMinutes(2));

        check.ExitCode.Should().Be(0);
        check.Output.Should().Be("/var/tmp/probe: OK");
    }

    [Fact]
    public async Task Every_machine_starts_from_the_unwritten_disk()
    {
        // Two machines at once: a file one writes is not on the other's disk (and not on the base image).
        var first = qemu.StartAsync("distro");
        var second = qemu.StartAsync("distro");
        await using var one = await first;
        await using var two = await second;

        await one.ExecAsync("echo one > /root/marker && sync");

        (await one.ExecAsync("cat /root/marker")).Output.Should().Be("one");
        (await two.ExecAsync("test -e /root/marker")).ExitCode.Should().Be(1);
    }
}
