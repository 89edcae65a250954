using System.Diagnostics;
using QemuTestKit.Machines.Runtime;
using QemuTestKit.Machines.Specs;
using QemuTestKit.Machines.Tests.Support;

namespace QemuTestKit.Cli.Tests;

/// <summary>
/// A process that starts a machine and is then killed with SIGKILL must leave no QEMU behind: QEMU runs under
/// <c>setpriv --pdeathsig KILL</c>, and the next start sweeps the dead owner's run directory.
/// </summary>
public sealed class RunCommandTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public async Task Killing_the_process_that_started_a_machine_leaves_no_qemu_behind(int trial)
    {
        var ct = TestContext.Current.CancellationToken;
        var temp = Directory.CreateTempSubdirectory($"qtk-kill-{trial}-").FullName;
        try
        {
            var guest = TestGuest.Load();
            var specFile = Path.Combine(temp, "spec.json");
            await MachineSpecJson.SaveAsync(new MachineSpec
            {
                Name = "orphan",
                MachineType = "q35",
                MemoryMiB = 256,
                Kernel = guest.Kernel,
                Initrd = guest.Initrd,
                Append = guest.Append,
            }, specFile, ct);
            var runRoot = Path.Combine(temp, "run");

            var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var argument in new[] { Path.Combine(AppContext.BaseDirectory, "qemutestkit.dll"), "run", specFile, "--no-wait-ready" })
            {
                psi.ArgumentList.Add(argument);
            }

            psi.Environment["QEMUTESTKIT_RUN_ROOT"] = runRoot;
            psi.Environment["QEMUTESTKIT_CACHE_DIR"] = Path.Combine(temp, "cache");
            using var cli = Process.Start(psi)!;
            var qemuPid = await ReadQemuPidAsync(cli, ct);
            File.Exists($"/proc/{qemuPid}/cmdline").Should().BeTrue("QEMU runs while its parent does");

            cli.Kill();
            await cli.WaitForExitAsync(ct);

            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
            while (IsAlive(qemuPid) && DateTime.UtcNow < deadline)
            {
                await Task.Delay(100, ct);
            }

            IsAlive(qemuPid).Should().BeFalse($"QEMU (pid {qemuPid}) must die with the process that started it");
            Directory.GetDirectories(runRoot).Should().HaveCount(1, "the killed process could not clean up its run directory");
            RunDirectory.SweepStale(runRoot).Should().HaveCount(1, "the next start sweeps run directories whose owner is gone");
            Directory.GetDirectories(runRoot).Should().BeEmpty();
        }
        finally
        {
            Directory.Delete(temp, recursive: true);
        }
    }

    private static async Task<int> ReadQemuPidAsync(Process cli, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(120));
        while (await cli.StandardOutput.ReadLineAsync(timeout.Token) is { } line)
        {
            var marker = line.IndexOf("qemu pid ", StringComparison.Ordinal);
            if (marker >= 0)
            {
                var digits = new string(line[(marker + "qemu pid ".Length)..].TakeWhile(char.IsDigit).ToArray());
                return int.Parse(digits, System.Globalization.CultureInfo.InvariantCulture);
            }
        }

        var stderr = await cli.StandardError.ReadToEndAsync(ct);
        throw new InvalidOperationException($"qemutestkit run printed no qemu pid; stderr: {stderr}");
    }

    /// <summary>Alive and not a zombie: a killed QEMU reparented to init is reaped at once.</summary>
    private static bool IsAlive(int pid)
    {
        try
        {
            var status = File.ReadAllText($"/proc/{pid}/status");
            return !status.Contains("State:\tZ", StringComparison.Ordinal);
        }
        catch (IOException)
        {
            return false;
        }
    }
}
