using QemuTestKit.Introspection;

namespace QemuTestKit.Cli.Hunt;

/// <summary>The hunt cannot go on: the project does not build, the filter selects nothing, a test host broke.</summary>
internal sealed class HuntException : QemuTestKitException
{
    public HuntException(string message) : base(message) { }
}
