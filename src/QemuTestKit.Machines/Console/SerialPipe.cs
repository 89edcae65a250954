using System.Globalization;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace QemuTestKit.Machines.Console;

/// <summary>
/// The files of a serial port that QEMU reaches through <c>-chardev pipe,path=BASE</c>: QEMU reads the guest's input
/// from <c>BASE.in</c> (a FIFO) and writes the guest's output to <c>BASE.out</c> (a regular file).
/// </summary>
/// <remarks>
/// Why not a socket: the UART writes one byte per call, and on a Unix socket each byte is its own buffer, so about 280
/// unread bytes fill it. A write QEMU cannot make is retried later from its main loop, at a moment a replay cannot
/// reproduce ("Missing character write event in the replay log", the replay ends early). A write to a regular file
/// always succeeds at once, however late the host reads it, so a recording never depends on the host's reading speed.
/// </remarks>
internal static class SerialPipe
{
    /// <summary>The suffixes QEMU's pipe backend adds to its path.</summary>
    public const string InputSuffix = ".in";

    public const string OutputSuffix = ".out";

    /// <summary>Creates the input FIFO and the empty output file, and opens both for the host.</summary>
    /// <returns>The input, opened read-write so that neither side's open blocks and QEMU never reads an end of file;
    /// and the output, opened for reading.</returns>
    /// <exception cref="IOException">A file cannot be created (for example it exists).</exception>
    public static (FileStream Input, SafeFileHandle Output) Create(string basePath)
    {
        var input = basePath + InputSuffix;
        var output = basePath + OutputSuffix;
        if (NativeMethods.mkfifo(System.Text.Encoding.UTF8.GetBytes(input + "\0"), Convert.ToUInt32("600", 8)) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new IOException(string.Create(CultureInfo.InvariantCulture,
                $"cannot create the serial console FIFO {input}: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})"));
        }

        FileStream? inputStream = null;
        try
        {
            inputStream = new FileStream(input, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite, bufferSize: 0);
            // In the run directory, which only its owner can enter.
            using (File.Open(output, FileMode.CreateNew, FileAccess.Write))
            {
            }

            return (inputStream, File.OpenHandle(output, FileMode.Open, FileAccess.Read, FileShare.ReadWrite));
        }
        catch
        {
            inputStream?.Dispose();
            throw;
        }
    }

    private static class NativeMethods
    {
        [DllImport("libc", SetLastError = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        internal static extern int mkfifo(byte[] path, uint mode);
    }
}
