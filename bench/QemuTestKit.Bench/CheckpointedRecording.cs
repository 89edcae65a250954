using System.Globalization;
using QemuTestKit.Machines.Bundles;
using QemuTestKit.Machines.CommandLine;
using QemuTestKit.Machines.Runtime;

namespace QemuTestKit.Bench;

/// <summary>
/// The short recorded test that bundle benchmarks keep: one command from the ready state, then checkpoints, each after
/// 4 MiB of random data written to <c>/tmp</c> (memory no other checkpoint has, and that does not compress), as a test
/// that does work between its checkpoints has.
/// </summary>
internal static class CheckpointedRecording
{
    public static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(300);

    /// <summary>Records it under the name <paramref name="test"/> and keeps the run as a bundle; <paramref name="beforeKeep"/> runs on the live machine last.</summary>
    public static async Task<string> KeepAsync(PreparedGuest guest, string bundleDirectory, string test, int checkpoints,
        Func<QemuMachine, CancellationToken, Task>? beforeKeep, CancellationToken ct)
    {
        var machine = await guest.Ready.StartAsync(guest.Spec, guest.Start with { Mode = RunMode.Record }, ct).ConfigureAwait(false);
        await using (machine.ConfigureAwait(false))
        {
            var result = await machine.ExecAsync($"echo {test}", CommandTimeout, ct).ConfigureAwait(false);
            if (result.Output != test)
            {
                throw new BenchFailedException($"recording: the guest answered '{result.Output}'");
            }

            for (var i = 1; i <= checkpoints; i++)
            {
                await machine.ExecAsync(string.Create(CultureInfo.InvariantCulture, $"dd if=/dev/urandom of=/tmp/fill{i} bs=1M count=4 2>/dev/null"), CommandTimeout, ct)
                    .ConfigureAwait(false);
                await machine.CheckpointAsync(string.Create(CultureInfo.InvariantCulture, $"c{i}"), ct).ConfigureAwait(false);
            }

            if (beforeKeep is not null)
            {
                await beforeKeep(machine, ct).ConfigureAwait(false);
            }

            return await machine.KeepAsBundleAsync(bundleDirectory, new BundleTest(test, "failed", "kept for the benchmark"), ct).ConfigureAwait(false);
        }
    }
}
