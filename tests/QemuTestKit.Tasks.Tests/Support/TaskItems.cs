using Microsoft.Build.Utilities;

namespace QemuTestKit.Tasks.Tests.Support;

/// <summary>MSBuild items as a project declares them, for the tasks' unit tests.</summary>
internal static class TaskItems
{
    public static TaskItem Item(string include, params (string Name, string Value)[] metadata)
    {
        var item = new TaskItem(include);
        foreach (var (name, value) in metadata)
        {
            item.SetMetadata(name, value);
        }

        return item;
    }
}
