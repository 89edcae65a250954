using FluentAssertions;
using QemuTestKit.Introspection.Processes;
using QemuTestKit.Introspection.Tests.Support;

namespace QemuTestKit.Introspection.Tests.Processes;

/// <summary>
/// QEMU runs without transparent huge pages (a snapshot load into huge pages zeroes 2 MiB per 4 KiB written: the
/// start of every recorded run and replay was 0.3-0.6 s slower), and the test process keeps its own setting.
/// </summary>
public sealed class QemuProcessHugePagesTests
{
    [Fact]
    public async Task QEMU_starts_with_transparent_huge_pages_off_and_this_process_keeps_them()
    {
        var before = ThpEnabled("self");
        await using var qemu = QemuProcess.Start(new QemuProcessStartInfo(TestQemu.Binary,
            ["-machine", "none", "-nodefaults", "-no-user-config", "-display", "none", "-S"]));

        // setpriv (the death-signal wrapper) execs QEMU in the same process: the flag must survive both execs.
        ThpEnabled(qemu.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)).Should().Be("0",
            "QEMU must inherit PR_SET_THP_DISABLE from the spawner");
        ThpEnabled("self").Should().Be(before, "the flag is set only around the start of the child");
        before.Should().Be("1", "the test process had huge pages allowed to begin with (it is what makes the check above mean something)");
    }

    /// <summary>The <c>THP_enabled</c> line of /proc/PID/status (Linux 5.0 and later).</summary>
    private static string ThpEnabled(string pid)
    {
        var line = File.ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith("THP_enabled:", StringComparison.Ordinal));
        line.Should().NotBeNull($"/proc/{pid}/status has a THP_enabled line on Linux 5.0 and later");
        return line!.Split(':')[1].Trim();
    }
}
