using System.Diagnostics;
using System.Globalization;

namespace QemuTestKit.Containers.Tests;

/// <summary>Whose containers a sweep may remove: only those of dead processes of this machine and PID namespace.</summary>
public sealed class SweepOwnerTests
{
    [Fact]
    public void This_host_is_the_machine_name_and_the_pid_namespace()
    {
        var pidNamespace = new FileInfo("/proc/self/ns/pid").LinkTarget!;
        ContainerSweeper.ThisHost.Should().Be($"{Environment.MachineName}@{new string(pidNamespace.Where(char.IsAsciiDigit).ToArray())}");
        ContainerSweeper.ThisOwner.Should().StartWith(ContainerSweeper.ThisHost + "/" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture) + "/");
        ContainerSweeper.IsOrphan(ContainerSweeper.ThisOwner).Should().BeFalse("this process is alive");
    }

    [Fact]
    public void A_dead_process_of_this_host_is_an_orphan()
    {
        using var process = Process.Start("true")!;
        process.WaitForExit();

        ContainerSweeper.IsOrphan($"{ContainerSweeper.ThisHost}/{process.Id}/0").Should().BeTrue();
    }

    [Theory]
    [InlineData("another-machine@4026531836")]
    [InlineData("@SAME-NAME@1")]
    [InlineData("@SAME-NAME@")]
    public void A_process_of_another_machine_or_pid_namespace_is_never_an_orphan(string host)
    {
        // Same machine name, other PID namespace: a CI job in a container that shares this engine (and, with
        // --network host, this machine's name). Its pid means nothing here, dead or alive.
        host = host.Replace("@SAME-NAME", Environment.MachineName, StringComparison.Ordinal);
        using var process = Process.Start("true")!;
        process.WaitForExit();

        ContainerSweeper.IsOrphan($"{host}/{process.Id}/0").Should().BeFalse();
        ContainerSweeper.IsOrphan($"{Environment.MachineName}/{process.Id}/0").Should().BeFalse("an owner without a namespace predates it");
    }
}
