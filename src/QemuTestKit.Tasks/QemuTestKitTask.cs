using System.Diagnostics.CodeAnalysis;
using System.Reflection;
using Microsoft.Build.Framework;
using QemuTestKit.Tasks.Diagnostics;
using MSBuildTask = Microsoft.Build.Utilities.Task;

namespace QemuTestKit.Tasks;

/// <summary>
/// Base of the QemuTestKit tasks: runs the asynchronous work off MSBuild's thread, cancels it when MSBuild cancels the
/// build (Ctrl+C), and reports <see cref="Diagnostic"/>s as coded errors and warnings located in the project file.
/// Never lets an exception escape as a stack trace: unexpected failures become one error with the message.
/// </summary>
[SuppressMessage("Design", "CA1001:Types that own disposable fields should be disposable",
    Justification = "MSBuild never disposes tasks; the source holds no timer, and Cancel may come after Execute returned.")]
public abstract class QemuTestKitTask : MSBuildTask, ICancelableTask
{
    private readonly CancellationTokenSource _cancel = new();
    private readonly ProjectLocator _locator = new();

    /// <summary>"QemuTestKit.Tasks 0.1.0+abc": written into the manifest and the spec hash files, so that another version prepares again.</summary>
    public static string Generator { get; } = "QemuTestKit.Tasks " +
        (typeof(QemuTestKitTask).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
            ?? typeof(QemuTestKitTask).Assembly.GetName().Version?.ToString() ?? "0");

    /// <summary>Called by MSBuild on Ctrl+C: stops the work, which kills any QEMU it started.</summary>
    public void Cancel() => _cancel.Cancel();

    public override bool Execute()
    {
        // A long wait for QEMU lets MSBuild build other projects on this node meanwhile. Yield and Reacquire must be
        // called on MSBuild's thread; the work runs on the thread pool and only logs (allowed while yielded).
        var yielded = YieldsWhileRunning && BuildEngine is IBuildEngine3;
        if (yielded)
        {
            ((IBuildEngine3)BuildEngine).Yield();
        }

        try
        {
            var ok = Task.Run(() => ExecuteAsync(_cancel.Token)).GetAwaiter().GetResult();
            return ok && !Log.HasLoggedErrors;
        }
        catch (OperationCanceledException) when (_cancel.IsCancellationRequested)
        {
            OnCancelled();
            return false;
        }
#pragma warning disable CA1031 // A build task reports failures as errors, never as a crash with a stack trace.
        catch (Exception e)
#pragma warning restore CA1031
        {
            Log.LogError(null, TaskErrorCodes.PrepareFailed, null, ErrorFile, 0, 0, 0, 0, "{0}",
                $"QemuTestKit failed unexpectedly: {e.GetType().Name}: {e.Message}");
            Log.LogMessage(MessageImportance.Low, "{0}", e.ToString());
            return false;
        }
        finally
        {
            if (yielded)
            {
                ((IBuildEngine3)BuildEngine).Reacquire();
            }
        }
    }

    /// <summary>Whether the task yields its MSBuild node while it runs (it waits for QEMU, not for the CPU).</summary>
    protected virtual bool YieldsWhileRunning => false;

    /// <summary>The file unlocated errors name (the project file).</summary>
    protected abstract string ErrorFile { get; }

    protected abstract Task<bool> ExecuteAsync(CancellationToken cancellationToken);

    /// <summary>Reports that the work was cancelled; the default is one QTK2015 error.</summary>
    protected virtual void OnCancelled() =>
        Log.LogError(null, TaskErrorCodes.PrepareCancelled, null, ErrorFile, 0, 0, 0, 0, "{0}", "QemuTestKit: cancelled; every QEMU it started was stopped");

    internal void Report(Diagnostic diagnostic)
    {
        var (line, column) = _locator.Find(diagnostic.Item, diagnostic.Metadata);
        if (diagnostic.IsError)
        {
            Log.LogError(null, diagnostic.Code, null, diagnostic.Item.DefiningFile, line, column, 0, 0, "{0}", diagnostic.Message);
        }
        else
        {
            Log.LogWarning(null, diagnostic.Code, null, diagnostic.Item.DefiningFile, line, column, 0, 0, "{0}", diagnostic.Message);
        }
    }

    internal void High(string message) => Log.LogMessage(MessageImportance.High, "{0}", message);

    internal void Normal(string message) => Log.LogMessage(MessageImportance.Normal, "{0}", message);

    internal void Low(string message) => Log.LogMessage(MessageImportance.Low, "{0}", message);
}
