using QemuTestKit.Fixtures;
using QemuTestKit.Fixtures.Xunit;

namespace MultiArch.Xunit;

/// <summary>
/// The same guest tests on every architecture: a derived class names its machine (and, where it must, how to start
/// it). xunit runs the tests once per derived class; each test gets a fresh machine from the build's ready state.
/// </summary>
public abstract class GuestTests(QemuFixture qemu, string machine, string unameMachine) : IClassFixture<QemuFixture>
{
    private Task<GuestMachine> StartAsync() => qemu.StartAsync(machine);

    [Fact]
    public async Task The_guest_runs_on_its_architecture()
    {
        await using var guest = await StartAsync();

        var result = await guest.ExecAsync("uname -m");

        result.ExitCode.Should().Be(0);
        result.Output.Should().Be(unameMachine);
    }

    [Fact]
    public async Task Commands_report_their_exit_codes()
    {
        await using var guest = await StartAsync();

        (await guest.ExecAsync("true")).ExitCode.Should().Be(0);
        (await guest.ExecAsync("sh -c 'exit 7'")).ExitCode.Should().Be(7);
    }

    [Fact]
    public async Task A_file_written_reads_back()
    {
        await using var guest = await StartAsync();

        await guest.ExecAsync($"echo 'hello from {machine}' > /tmp/greeting");
        var result = await guest.ExecAsync("cat /tmp/greeting");

        result.Output.Should().Be($"hello from {machine}");
    }

    [Fact]
    public async Task The_guest_sees_one_cpu()
    {
        await using var guest = await StartAsync();

        // Every architecture's /proc/cpuinfo has one "processor" line per CPU, whatever else it lists.
        var result = await guest.ExecAsync("grep -c '^processor' /proc/cpuinfo");

        result.Output.Should().Be("1");
    }
}

public sealed class X86_64Tests(QemuFixture qemu) : GuestTests(qemu, "x86_64", "x86_64");

public sealed class Aarch64Tests(QemuFixture qemu) : GuestTests(qemu, "aarch64", "aarch64");

/// <summary>Unrecorded: its QemuMachine item says Record="false" (QEMU before 10.2 keeps no RISC-V timer across a snapshot).</summary>
public sealed class Riscv64Tests(QemuFixture qemu) : GuestTests(qemu, "riscv64", "riscv64");
