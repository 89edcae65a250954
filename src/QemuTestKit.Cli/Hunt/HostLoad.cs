namespace QemuTestKit.Cli.Hunt;

/// <summary>
/// Busy threads that take a share of the host's CPU while a run goes: QEMU's virtual clock (icount with sleep) follows
/// the host's time, so load changes when input reaches the guest, which is what timing-dependent failures feed on.
/// </summary>
internal sealed class HostLoad : IDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Thread> _threads = [];

    public HostLoad(int percent)
    {
        Percent = Math.Clamp(percent, 0, 100);
        if (Percent == 0)
        {
            return;
        }

        for (var i = 0; i < Environment.ProcessorCount; i++)
        {
            var thread = new Thread(Spin) { IsBackground = true, Name = "qemutestkit-hunt-load" };
            _threads.Add(thread);
            thread.Start();
        }
    }

    public int Percent { get; }

    private void Spin()
    {
        var token = _stop.Token;
        while (!token.IsCancellationRequested)
        {
            var busyUntil = Environment.TickCount64 + Percent / 5;
            while (Environment.TickCount64 < busyUntil)
            {
                Thread.SpinWait(1000);
            }

            token.WaitHandle.WaitOne((100 - Percent) / 5);
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        foreach (var thread in _threads)
        {
            thread.Join();
        }

        _stop.Dispose();
    }
}
