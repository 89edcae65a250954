using System.Collections.Concurrent;
using System.Diagnostics;

namespace QemuTestKit.Introspection.Processes;

/// <summary>
/// Starts child processes from one long-lived thread. Linux delivers PR_SET_PDEATHSIG when the *thread* that forked
/// the child exits, not the process: a child forked from a thread-pool thread would be killed whenever the pool
/// retires that thread. Forking from a thread that lives as long as the process makes "die with the parent" mean
/// exactly that. Children start without transparent huge pages (<see cref="HugePageInheritance"/>).
/// </summary>
internal static class ProcessSpawner
{
    private static readonly BlockingCollection<(ProcessStartInfo Info, TaskCompletionSource<Process> Result)> Requests = new();
    private static readonly Lazy<Thread> Worker = new(() =>
    {
        var thread = new Thread(Run) { IsBackground = true, Name = "QemuTestKit process spawner" };
        thread.Start();
        return thread;
    });

    public static Process Start(ProcessStartInfo info)
    {
        _ = Worker.Value;
        var result = new TaskCompletionSource<Process>(TaskCreationOptions.RunContinuationsAsynchronously);
        Requests.Add((info, result));
        return result.Task.GetAwaiter().GetResult();
    }

    private static void Run()
    {
        foreach (var (info, result) in Requests.GetConsumingEnumerable())
        {
            try
            {
                var process = HugePageInheritance.WithoutHugePages(() => Process.Start(info))
                    ?? throw new InvalidOperationException($"could not start {info.FileName}");
                result.SetResult(process);
            }
#pragma warning disable CA1031 // The failure is handed to the caller, who reports it.
            catch (Exception e)
#pragma warning restore CA1031
            {
                result.SetException(e);
            }
        }
    }
}
