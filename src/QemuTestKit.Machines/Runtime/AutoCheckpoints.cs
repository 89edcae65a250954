using System.Globalization;
using QemuTestKit.Introspection;

namespace QemuTestKit.Machines.Runtime;

/// <summary>
/// Takes a checkpoint every interval while a recorded machine runs (what QemuGUI's <c>rrperiod</c> did in ISP RAS's
/// fork; upstream QEMU has no such policy), so a late failure can be replayed from shortly before it.
/// </summary>
internal sealed class AutoCheckpoints : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    public AutoCheckpoints(QemuMachine machine, TimeSpan interval)
    {
        if (interval < TimeSpan.FromSeconds(1))
        {
            throw new ArgumentOutOfRangeException(nameof(interval), interval, "automatic checkpoints need an interval of at least 1 s");
        }

        _loop = Task.Run(() => RunAsync(machine, interval, _stop.Token));
    }

    private static async Task RunAsync(QemuMachine machine, TimeSpan interval, CancellationToken ct)
    {
        try
        {
            for (var n = 1; !ct.IsCancellationRequested; n++)
            {
                await Task.Delay(interval, ct).ConfigureAwait(false);
                try
                {
                    await machine.CheckpointAsync(string.Create(CultureInfo.InvariantCulture, $"auto-{n}"), ct).ConfigureAwait(false);
                }
                catch (MachineCommandException) when (!machine.HasExited)
                {
                    // One refused savevm must not end the policy: the next interval tries again (with the next number).
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or QemuTestKitException or QemuTestKit.Introspection.Qmp.QmpException)
        {
            // The run ended (or the machine died, which the test learns from its own calls).
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
        _stop.Dispose();
    }
}
