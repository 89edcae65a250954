using QemuTestKit.Fixtures.Xunit;

namespace DistroGuest.Xunit;

/// <summary>
/// Debian 12 with systemd, started from the ready snapshot the build saved (an autologin root shell on ttyS0).
/// xunit runs the classes of this project in parallel, so these machines run next to the disk and network tests'
/// (the fixtures cap how many run at once by the host's cores). Timeouts are wide: under TCG on a busy 2-core host
/// systemd finishing its start-up can take a minute after the snapshot.
/// </summary>
public sealed class DistroSystemTests(QemuFixture qemu) : IClassFixture<QemuFixture>
{
    [Fact]
    public async Task Systemd_reaches_running()
    {
        await using var guest = await qemu.StartAsync("distro");

        var state = await guest.ExecAsync("systemctl is-system-running --wait", TimeSpan.FromMinutes(5));

        var failed = state.Output == "running" ? "" : (await guest.ExecAsync("systemctl --failed --no-legend --plain --no-pager")).Output;
        state.Output.Should().Be("running", "no unit should fail on the guest (failed units: {0})", failed);
        (await guest.ExecAsync("cat /proc/1/comm")).Output.Should().Be("systemd");
    }

    /// <summary>
    /// `systemctl status` on a terminal pipes its output through a pager (less, which quits by itself when the text fits
    /// the guest's 64-line screen). Its output comes in a fast burst, which the recording keeps and the replay repeats
    /// byte for byte (docs/guests.md): the console is a pipe pair that QEMU never has to wait for.
    /// </summary>
    [Fact]
    public async Task A_command_with_a_pager_shows_its_output()
    {
        await using var guest = await qemu.StartAsync("distro");
        (await guest.ExecAsync("systemctl is-system-running --wait", TimeSpan.FromMinutes(5))).ExitCode.Should().Be(0);

        var status = await guest.ExecAsync("systemctl status systemd-journald.service", TimeSpan.FromMinutes(2));

        status.ExitCode.Should().Be(0);
        status.Output.Should().Contain("systemd-journald.service").And.Contain("active (running)");
    }
}
